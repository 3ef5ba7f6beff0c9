package mujoco

// taskInfo names one MuJoCo task: its registered name and dm_control-style aliases.
type taskInfo struct {
	name    string
	aliases []string
}

// taskNames lists every MuJoCo task this package registers, with or without the mujoco build tag.
// Tasks whose names the pure-Go envs/classic already owns carry an "mj-" prefix.
var taskNames = []taskInfo{
	{"mj-cartpole-balance", []string{"mj-cartpole_balance"}},
	{"mj-cartpole-balance-sparse", []string{"mj-cartpole-balance_sparse", "mj-cartpole_balance_sparse"}},
	{"mj-cartpole-swingup", []string{"mj-cartpole_swingup"}},
	{"mj-cartpole-swingup-sparse", []string{"mj-cartpole-swingup_sparse", "mj-cartpole_swingup_sparse"}},
	{"mj-pendulum-swingup", []string{"mj-pendulum_swingup"}},
	{"acrobot-swingup", []string{"acrobot_swingup"}},
	{"acrobot-swingup-sparse", []string{"acrobot-swingup_sparse", "acrobot_swingup_sparse"}},
	{"reacher-easy", []string{"reacher_easy"}},
	{"reacher-hard", []string{"reacher_hard"}},
	{"finger-spin", []string{"finger_spin"}},
	{"cheetah-run", []string{"cheetah_run"}},
	{"walker-stand", []string{"walker_stand"}},
	{"walker-walk", []string{"walker_walk"}},
	{"walker-run", []string{"walker_run"}},
	{"hopper-stand", []string{"hopper_stand"}},
	{"hopper-hop", []string{"hopper_hop"}},
	{"humanoid-stand", []string{"humanoid_stand"}},
	{"humanoid-walk", []string{"humanoid_walk"}},
	{"humanoid-run", []string{"humanoid_run"}},
}
