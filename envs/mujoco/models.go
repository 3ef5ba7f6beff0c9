//go:build mujoco

package mujoco

// Our own MJCF models of the DeepMind Control Suite domains, written from the physical parameters
// of envs.md §3.3 (masses, sizes, joint ranges, damping, gears, timesteps). They are not copies of
// dm_control's XML: geometry that does not affect the tasks (decoration, sites the tasks never
// read, materials) is our own, and where the suite's exact geometry is not given we chose
// dimensions that reproduce the stated masses. The humanoid is Debian's sample model, patched at
// run time (humanoid.go).

// visualCommon gives every model a sky, a checkered floor material, a body material, a light and
// an offscreen buffer large enough for 800×800 frames.
const visualCommon = `
  <visual>
    <global offwidth="800" offheight="800"/>
    <quality shadowsize="1024"/>
    <headlight ambient=".4 .4 .4" diffuse=".8 .8 .8" specular=".1 .1 .1"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1=".4 .6 .8" rgb2="0 0 0" width="256" height="256"/>
    <texture name="grid" type="2d" builtin="checker" rgb1=".1 .2 .3" rgb2=".2 .3 .4" width="256" height="256" mark="edge" markrgb=".2 .3 .4"/>
    <material name="grid" texture="grid" texrepeat="1 1" texuniform="true" reflectance=".2"/>
    <material name="self" rgba=".7 .5 .3 1"/>
    <material name="decor" rgba=".3 .5 .7 1"/>
    <material name="target" rgba=".6 .3 .3 1"/>
    <material name="effector" rgba=".7 .4 .2 1"/>
  </asset>
`

// cartpoleXML: a 1 kg cart (0.4×0.3×0.2 m box) on an x slider limited to ±1.8 m (soft limit with
// time constant 0.08 s, damping ratio 1; slider damping 5e-4), 1 m up; a 0.1 kg capsule pole of
// length 1 m and radius 0.045 on a y hinge (damping 2e-6); a slider motor of gear 10. RK4 with
// dt 0.01, contacts off. These are exactly the parameters of the pure-Go envs/classic cartpole.
const cartpoleXML = `<mujoco model="pompc-cartpole">
  <option timestep="0.01" integrator="RK4">
    <flag contact="disable"/>
  </option>` + visualCommon + `
  <worldbody>
    <light name="light" pos="0 0 6"/>
    <camera name="fixed" pos="0 -4 1" zaxis="0 -1 0"/>
    <geom name="floor" type="plane" pos="0 0 -.05" size="4 4 .2" material="grid"/>
    <geom name="rail" type="capsule" fromto="-1.8 .15 1 1.8 .15 1" size=".02" material="decor" contype="0" conaffinity="0" mass="0"/>
    <body name="cart" pos="0 0 1">
      <joint name="slider" type="slide" axis="1 0 0" limited="true" range="-1.8 1.8" solreflimit=".08 1" damping="5e-4"/>
      <geom name="cart" type="box" size=".2 .15 .1" mass="1" material="self"/>
      <body name="pole" pos="0 0 0">
        <joint name="hinge" type="hinge" axis="0 1 0" damping="2e-6"/>
        <geom name="pole" type="capsule" fromto="0 0 0 0 0 1" size=".045" mass=".1" material="self"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="slide" joint="slider" gear="10" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>`

// pendulumXML: a 1 kg point mass (a small sphere) 0.5 m from a y hinge on a massless rod, hinge
// damping 0.1, motor torque ±1 N·m (below m·g·l ≈ 4.9 N·m, so the pendulum must be pumped up).
// Euler, dt 0.02, contacts off. θ = 0 is upright.
const pendulumXML = `<mujoco model="pompc-pendulum">
  <option timestep="0.02">
    <flag contact="disable"/>
  </option>` + visualCommon + `
  <worldbody>
    <light name="light" pos="0 0 6"/>
    <camera name="fixed" pos="0 -2.5 1" zaxis="0 -1 0"/>
    <geom name="floor" type="plane" size="2 2 .2" material="grid"/>
    <body name="pole" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping=".1"/>
      <geom name="pole" type="capsule" fromto="0 0 0 0 0 .5" size=".02" mass="0" material="self"/>
      <geom name="mass" type="sphere" pos="0 0 .5" size=".05" mass="1" material="effector"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="torque" joint="hinge" gear="1" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>`

// acrobotXML: two 1 m links of 1 kg each on y hinges (damping 0.05), the shoulder 2 m up, links
// pointing up at zero angle; capsule radii 0.05 (upper) and 0.049 (lower), as DMC's, which set
// the links' inertia; only the elbow is actuated (gear 2). A target sphere of radius 0.2 sits at
// height 4, where the tip is with both links upright. RK4, dt 0.01, constraints off.
const acrobotXML = `<mujoco model="pompc-acrobot">
  <option timestep="0.01" integrator="RK4">
    <flag constraint="disable"/>
  </option>` + visualCommon + `
  <worldbody>
    <light name="light" pos="0 0 8"/>
    <camera name="fixed" pos="0 -7 2.2" zaxis="0 -1 0"/>
    <geom name="floor" type="plane" size="4 4 .2" material="grid"/>
    <site name="target" type="sphere" pos="0 0 4" size=".2" material="target"/>
    <body name="upper_arm" pos="0 0 2">
      <joint name="shoulder" type="hinge" axis="0 1 0" damping=".05"/>
      <geom name="upper_arm" type="capsule" fromto="0 0 0 0 0 1" size=".05" mass="1" material="self"/>
      <body name="lower_arm" pos="0 0 1">
        <joint name="elbow" type="hinge" axis="0 1 0" damping=".05"/>
        <geom name="lower_arm" type="capsule" fromto="0 0 0 0 0 1" size=".049" mass="1" material="self"/>
        <site name="tip" pos="0 0 1" size=".01"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="elbow" joint="elbow" gear="2" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>`

// reacherXML: a two-link arm in the horizontal plane on z hinges (shoulder unlimited, wrist
// ±160°, damping 0.01), links of 0.12 and 0.10 m (capsule radius 0.01), a finger sphere of radius
// 0.01 0.12 m past the wrist, tiny motors (gear 0.05), in a 0.6×0.6 m arena. The target geom is
// moved and resized by the task (it writes into its own copy of the model). Euler, dt 0.02,
// contacts off.
const reacherXML = `<mujoco model="pompc-reacher">
  <option timestep="0.02">
    <flag contact="disable"/>
  </option>` + visualCommon + `
  <default>
    <joint type="hinge" axis="0 0 1" damping=".01"/>
    <motor gear=".05" ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 0 1"/>
    <camera name="fixed" pos="0 0 .75" quat="1 0 0 0"/>
    <geom name="ground" type="plane" pos="0 0 0" size=".3 .3 10" material="grid"/>
    <geom name="wall_x" type="capsule" fromto="-.3 -.3 .01 -.3 .3 .01" size=".02" material="decor"/>
    <geom name="wall_y" type="capsule" fromto="-.3 .3 .01 .3 .3 .01" size=".02" material="decor"/>
    <geom name="wall_neg_x" type="capsule" fromto=".3 .3 .01 .3 -.3 .01" size=".02" material="decor"/>
    <geom name="wall_neg_y" type="capsule" fromto=".3 -.3 .01 -.3 -.3 .01" size=".02" material="decor"/>
    <body name="root" pos="0 0 .01">
      <geom name="root" type="cylinder" fromto="0 0 0 0 0 .02" size=".011" material="decor"/>
      <body name="arm" pos="0 0 .01">
        <joint name="shoulder"/>
        <geom name="arm" type="capsule" fromto="0 0 0 .12 0 0" size=".01" material="self"/>
        <body name="hand" pos=".12 0 0">
          <joint name="wrist" limited="true" range="-160 160"/>
          <geom name="hand" type="capsule" fromto="0 0 0 .1 0 0" size=".01" material="self"/>
          <body name="finger" pos=".12 0 0">
            <geom name="finger" type="sphere" size=".01" material="effector"/>
          </body>
        </body>
      </body>
    </body>
    <geom name="target" type="sphere" pos=".1 .1 .01" size=".05" material="target" contype="0" conaffinity="0"/>
  </worldbody>
  <actuator>
    <motor name="shoulder" joint="shoulder"/>
    <motor name="wrist" joint="wrist"/>
  </actuator>
</mujoco>`

// fingerXML: a planar two-link finger (proximal 0.17 m, radius 0.03, with a collidable hinge
// cylinder; distal 0.16 m, radius 0.028, with a fingertip) on y hinges limited to ±110° (damping
// 2.5, gears 30 and 15). The proximal joint's reference is −90°: its range is in qpos, so the
// finger turns from −20° to +200° from hanging straight down and can reach over the spinner. The
// spinner, 0.4 m to the side of the finger base: two capsules (radius 0.04, half-length 0.09,
// offset ±0.02) and a collidable hub on a y hinge with frictionloss 0.1, and the site
// spinner_tip 0.13 m from its hinge, which the observation reads (DMC's "tip"). dm_control's spin
// task sets the spinner's damping to 0.03 at every episode start; the value is constant, so it
// is written here and the model is never mutated. Gravity off, elliptic friction cones, soft
// contacts (solimp 0 .9 .01, solref .02 1), 200 solver iterations, Euler with dt 0.01. Two
// ellipsoid touch sensors cover the two halves of the fingertip.
const fingerXML = `<mujoco model="pompc-finger">
  <option timestep="0.01" cone="elliptic" iterations="200" gravity="0 0 0"/>` + visualCommon + `
  <default>
    <geom solimp="0 .9 .01" solref=".02 1"/>
    <joint type="hinge" axis="0 -1 0"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 -1 2"/>
    <camera name="fixed" pos="0 -1.2 .4" zaxis="0 -1 0"/>
    <geom name="ground" type="plane" pos="0 0 0" size=".6 .2 10" material="grid"/>
    <body name="proximal" pos="-.2 0 .4">
      <geom name="proximal_decoration" type="cylinder" fromto="0 -.033 0 0 .033 0" size=".034" material="decor"/>
      <joint name="proximal" limited="true" range="-110 110" ref="-90" damping="2.5"/>
      <geom name="proximal" type="capsule" fromto="0 0 0 0 0 -.17" size=".03" material="self"/>
      <body name="distal" pos="0 0 -.18">
        <joint name="distal" limited="true" range="-110 110" damping="2.5"/>
        <geom name="distal" type="capsule" fromto="0 0 0 0 0 -.16" size=".028" material="self" contype="0" conaffinity="0"/>
        <geom name="fingertip" type="capsule" fromto="0 0 -.13 0 0 -.161" size=".03" material="effector"/>
        <site name="touchtop" type="ellipsoid" pos=".01 0 -.17" size=".025 .03 .025"/>
        <site name="touchbottom" type="ellipsoid" pos="-.01 0 -.17" size=".025 .03 .025"/>
      </body>
    </body>
    <body name="spinner" pos=".2 0 .4">
      <joint name="hinge" damping=".03" frictionloss=".1"/>
      <geom name="cap1" type="capsule" pos=".02 0 0" size=".04 .09" material="self"/>
      <geom name="cap2" type="capsule" pos="-.02 0 0" size=".04 .09" material="self"/>
      <site name="spinner_tip" pos="0 0 .13" size=".01"/>
      <geom name="hub" type="cylinder" fromto="0 -.045 0 0 .045 0" size=".02" material="decor"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="proximal" joint="proximal" gear="30"/>
    <motor name="distal" joint="distal" gear="15"/>
  </actuator>
  <sensor>
    <touch name="touchtop" site="touchtop"/>
    <touch name="touchbottom" site="touchbottom"/>
  </sensor>
</mujoco>`

// cheetahXML: a planar half-cheetah of 14 kg (settotalmass scales the capsules' default-density
// masses, 21.2 kg, to DMC's 14, so the gears below move DMC's body; all capsules radius 0.046):
// a 1 m torso 0.7 m up with a short head tilted 50° up; back leg thigh/shin/foot of half-lengths
// 0.145/0.15/0.094 at the rear end, front leg 0.133/0.106/0.07 at the front end, sloping like the
// classic half-cheetah. Joint ranges (deg): back −30..60, −50..50, −230..50; front −57..0.4,
// −70..50, −28..28. Segment tilts in degrees, DMC's: 50 (head), −218, −116, −15 (back), 30, −34,
// −34 (front). Stiffness/damping back 240/6, 180/4.5, 120/3; front 180/4.5, 120/3, 60/1.5.
// Armature 0.1, gears 120/90/60 (back) and 90/60/30 (front). Euler, dt 0.01. The body's
// friction is 0.4, the ground's MuJoCo's default 1, and a contact takes the larger: 1, as in DMC
// (a ground of 0.4 makes the cheetah slip). Body geoms collide with the ground and with each
// other (parent and child excepted). TestModelsMatchDMC checks the masses, friction and
// collisions against DMC's compiled model.
const cheetahXML = `<mujoco model="pompc-cheetah">
  <compiler settotalmass="14"/>
  <option timestep="0.01"/>` + visualCommon + `
  <default>
    <joint limited="true" armature=".1"/>
    <geom type="capsule" size=".046" friction=".4 .1 .1" contype="1" conaffinity="1" material="self"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 0 6" mode="trackcom"/>
    <geom name="ground" type="plane" size="0 0 .05" material="grid" conaffinity="1" contype="1" friction="1 .005 .0001"/>
    <body name="torso" pos="0 0 .7">
      <camera name="track" pos="0 -3 .3" zaxis="0 -1 0" mode="trackcom"/>
      <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0"/>
      <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0"/>
      <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0"/>
      <geom name="torso" fromto="-.5 0 0 .5 0 0"/>
      <geom name="head" pos=".6 0 .1" axisangle="0 1 0 50" size=".046 .15"/>
      <body name="bthigh" pos="-.5 0 0">
        <joint name="bthigh" axis="0 1 0" range="-30 60" stiffness="240" damping="6"/>
        <geom name="bthigh" pos=".1 0 -.13" axisangle="0 1 0 -218" size=".046 .145"/>
        <body name="bshin" pos=".16 0 -.25">
          <joint name="bshin" axis="0 1 0" range="-50 50" stiffness="180" damping="4.5"/>
          <geom name="bshin" pos="-.14 0 -.07" axisangle="0 1 0 -116" size=".046 .15"/>
          <body name="bfoot" pos="-.28 0 -.14">
            <joint name="bfoot" axis="0 1 0" range="-230 50" stiffness="120" damping="3"/>
            <geom name="bfoot" pos=".03 0 -.097" axisangle="0 1 0 -15" size=".046 .094"/>
          </body>
        </body>
      </body>
      <body name="fthigh" pos=".5 0 0">
        <joint name="fthigh" axis="0 1 0" range="-57 .4" stiffness="180" damping="4.5"/>
        <geom name="fthigh" pos="-.07 0 -.12" axisangle="0 1 0 30" size=".046 .133"/>
        <body name="fshin" pos="-.14 0 -.24">
          <joint name="fshin" axis="0 1 0" range="-70 50" stiffness="120" damping="3"/>
          <geom name="fshin" pos=".065 0 -.09" axisangle="0 1 0 -34" size=".046 .106"/>
          <body name="ffoot" pos=".13 0 -.18">
            <joint name="ffoot" axis="0 1 0" range="-28 28" stiffness="60" damping="1.5"/>
            <geom name="ffoot" pos=".045 0 -.07" axisangle="0 1 0 -34" size=".046 .07"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="bthigh" joint="bthigh" gear="120"/>
    <motor name="bshin" joint="bshin" gear="90"/>
    <motor name="bfoot" joint="bfoot" gear="60"/>
    <motor name="fthigh" joint="fthigh" gear="90"/>
    <motor name="fshin" joint="fshin" gear="60"/>
    <motor name="ffoot" joint="ffoot" gear="30"/>
  </actuator>
</mujoco>`

// walkerXML: a planar biped of 28.54 kg: a torso capsule (radius 0.07, half-length 0.3) centred
// 1.3 m up; per leg a thigh (0.05, 0.225), a shin (0.04, 0.25) and a horizontal foot capsule
// (0.05, 0.1). Hip −20..100°, knee −150..0°, ankle ±45°; damping 0.1, armature 0.01, DMC's soft
// joint limits (solimplimit 0 .99 .01; the knee stop at 0° is hit often), friction 0.7; gears
// hip 100, knee 50, ankle 20. No self-collision (body geoms contype 1, conaffinity 0; the floor
// has conaffinity 1). Euler, dt 0.0025.
const walkerXML = `<mujoco model="pompc-walker">
  <option timestep="0.0025"/>` + visualCommon + `
  <default>
    <joint type="hinge" axis="0 -1 0" limited="true" damping=".1" armature=".01" solimplimit="0 .99 .01"/>
    <geom type="capsule" contype="1" conaffinity="0" friction=".7 .1 .1" material="self"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 0 6" mode="trackcom"/>
    <geom name="floor" type="plane" size="0 0 .25" material="grid" contype="1" conaffinity="1"/>
    <body name="torso" pos="0 0 1.3">
      <camera name="track" pos="0 -3 -.25" zaxis="0 -1 0" mode="trackcom"/>
      <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0" damping="0"/>
      <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0" damping="0"/>
      <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0" damping="0"/>
      <geom name="torso" size=".07 .3"/>
      <body name="right_thigh" pos="0 -.05 -.3">
        <joint name="right_hip" range="-20 100"/>
        <geom name="right_thigh" pos="0 0 -.225" size=".05 .225"/>
        <body name="right_leg" pos="0 0 -.45">
          <joint name="right_knee" range="-150 0"/>
          <geom name="right_leg" pos="0 0 -.25" size=".04 .25"/>
          <body name="right_foot" pos="0 0 -.5">
            <joint name="right_ankle" range="-45 45"/>
            <geom name="right_foot" pos=".06 0 0" zaxis="1 0 0" size=".05 .1"/>
          </body>
        </body>
      </body>
      <body name="left_thigh" pos="0 .05 -.3">
        <joint name="left_hip" range="-20 100"/>
        <geom name="left_thigh" pos="0 0 -.225" size=".05 .225" material="decor"/>
        <body name="left_leg" pos="0 0 -.45">
          <joint name="left_knee" range="-150 0"/>
          <geom name="left_leg" pos="0 0 -.25" size=".04 .25" material="decor"/>
          <body name="left_foot" pos="0 0 -.5">
            <joint name="left_ankle" range="-45 45"/>
            <geom name="left_foot" pos=".06 0 0" zaxis="1 0 0" size=".05 .1" material="decor"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="right_hip" joint="right_hip" gear="100"/>
    <motor name="right_knee" joint="right_knee" gear="50"/>
    <motor name="right_ankle" joint="right_ankle" gear="20"/>
    <motor name="left_hip" joint="left_hip" gear="100"/>
    <motor name="left_knee" joint="left_knee" gear="50"/>
    <motor name="left_ankle" joint="left_ankle" gear="20"/>
  </actuator>
</mujoco>`

// hopperXML: a planar one-legged hopper of 12.44 kg: a torso capsule (radius 0.0653, length
// 0.25, plus a capsule nose) 1 m up; a pelvis (0.065, 0.15; waist ±30°), a thigh (0.04, 0.33;
// hip −170..10°), a calf (0.03, 0.32; knee 5..150°) and a foot (0.04, from x −0.08 to +0.17;
// ankle ±45°). Hinges about +y (DMC's; walker's −y would mirror these asymmetric ranges and
// bend the knee backwards relative to the foot and the hop direction). Damping 0.05, armature
// 0.2; gears waist 30, hip 40, knee 30, ankle 10. Body geoms collide with the floor and with each
// other; friction MuJoCo's default 1. Touch sites of radius 0.05 at toe and heel. Euler, dt 0.005.
const hopperXML = `<mujoco model="pompc-hopper">
  <option timestep="0.005"/>` + visualCommon + `
  <default>
    <joint type="hinge" axis="0 1 0" limited="true" damping=".05" armature=".2"/>
    <geom type="capsule" contype="1" conaffinity="1" material="self"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 0 6" mode="trackcom"/>
    <geom name="floor" type="plane" size="0 0 .25" material="grid" contype="1" conaffinity="1"/>
    <body name="torso" pos="0 0 1">
      <camera name="track" pos="0 -3 -.2" zaxis="0 -1 0" mode="trackcom"/>
      <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0" damping="0"/>
      <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0" damping="0"/>
      <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0" damping="0"/>
      <geom name="torso" fromto="0 0 -.05 0 0 .2" size=".0653"/>
      <geom name="nose" fromto=".08 0 .13 .15 0 .14" size=".03" material="effector"/>
      <body name="pelvis" pos="0 0 -.05">
        <joint name="waist" range="-30 30"/>
        <geom name="pelvis" fromto="0 0 0 0 0 -.15" size=".065"/>
        <body name="thigh" pos="0 0 -.2">
          <joint name="hip" range="-170 10"/>
          <geom name="thigh" fromto="0 0 0 0 0 -.33" size=".04"/>
          <body name="calf" pos="0 0 -.33">
            <joint name="knee" range="5 150"/>
            <geom name="calf" fromto="0 0 0 0 0 -.32" size=".03"/>
            <body name="foot" pos="0 0 -.32">
              <joint name="ankle" range="-45 45"/>
              <geom name="foot" fromto="-.08 0 0 .17 0 0" size=".04"/>
              <site name="touch_toe" type="sphere" pos=".17 0 0" size=".05"/>
              <site name="touch_heel" type="sphere" pos="-.08 0 0" size=".05"/>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="waist" joint="waist" gear="30"/>
    <motor name="hip" joint="hip" gear="40"/>
    <motor name="knee" joint="knee" gear="30"/>
    <motor name="ankle" joint="ankle" gear="10"/>
  </actuator>
  <sensor>
    <touch name="touch_toe" site="touch_toe"/>
    <touch name="touch_heel" site="touch_heel"/>
  </sensor>
</mujoco>`
