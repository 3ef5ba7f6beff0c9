package classic

import (
	"image"
	"image/color"
	"image/draw"
	"math"
)

// 2-D drawings of the pure-Go tasks (evaluation videos): a side view in dm_control's colours, the
// world's x to the right and z up, the scene scaled to fit the frame.

var (
	skyColor   = color.RGBA{0xe8, 0xee, 0xf4, 0xff}
	floorColor = color.RGBA{0x9a, 0xa8, 0xb4, 0xff}
	railColor  = color.RGBA{0x55, 0x5f, 0x6a, 0xff}
	bodyColor  = color.RGBA{0xc8, 0x6e, 0x2a, 0xff} // the cart, the pendulum's mass
	poleColor  = color.RGBA{0x3c, 0x6e, 0xa8, 0xff}
	jointColor = color.RGBA{0x22, 0x22, 0x22, 0xff}
)

// canvas maps world coordinates (metres, z up) onto an image.
type canvas struct {
	img           *image.RGBA
	scale, x0, z0 float64 // pixels per metre; the world point at the image's centre
}

func newCanvas(width, height int, worldWidth, x0, z0 float64) *canvas {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), &image.Uniform{skyColor}, image.Point{}, draw.Src)
	return &canvas{img: img, scale: float64(width) / worldWidth, x0: x0, z0: z0}
}

// px is the pixel position of world point (x, z).
func (c *canvas) px(x, z float64) (float64, float64) {
	b := c.img.Bounds()
	return float64(b.Dx())/2 + (x-c.x0)*c.scale, float64(b.Dy())/2 - (z-c.z0)*c.scale
}

// fill paints every pixel whose centre is inside (a predicate in world coordinates), within the
// world box [xmin, xmax] × [zmin, zmax].
func (c *canvas) fill(col color.RGBA, xmin, zmin, xmax, zmax float64, inside func(x, z float64) bool) {
	b := c.img.Bounds()
	px0, pz1 := c.px(xmin, zmin)
	px1, pz0 := c.px(xmax, zmax)
	for py := max(int(math.Floor(pz0)), b.Min.Y); py <= min(int(math.Ceil(pz1)), b.Max.Y-1); py++ {
		for pxi := max(int(math.Floor(px0)), b.Min.X); pxi <= min(int(math.Ceil(px1)), b.Max.X-1); pxi++ {
			x := c.x0 + (float64(pxi)+0.5-float64(b.Dx())/2)/c.scale
			z := c.z0 - (float64(py)+0.5-float64(b.Dy())/2)/c.scale
			if inside(x, z) {
				c.img.SetRGBA(pxi, py, col)
			}
		}
	}
}

// rect fills the world rectangle [x0, x1] × [z0, z1].
func (c *canvas) rect(col color.RGBA, x0, z0, x1, z1 float64) {
	c.fill(col, x0, z0, x1, z1, func(x, z float64) bool { return true })
}

// capsule fills the points within radius r of the segment (ax, az)–(bx, bz).
func (c *canvas) capsule(col color.RGBA, ax, az, bx, bz, r float64) {
	dx, dz := bx-ax, bz-az
	l2 := dx*dx + dz*dz
	c.fill(col, min(ax, bx)-r, min(az, bz)-r, max(ax, bx)+r, max(az, bz)+r, func(x, z float64) bool {
		t := 0.0
		if l2 > 0 {
			t = max(0, min(1, ((x-ax)*dx+(z-az)*dz)/l2))
		}
		ex, ez := x-(ax+t*dx), z-(az+t*dz)
		return ex*ex+ez*ez <= r*r
	})
}

// disc fills the disc of radius r around (x, z).
func (c *canvas) disc(col color.RGBA, x, z, r float64) { c.capsule(col, x, z, x, z, r) }

// Frame draws the cart on its rail (±1.8 m) and the pole, θ = 0 upright (envs.Framer).
func (p *CartpolePhysics) Frame(width, height int) (*image.RGBA, error) {
	c := newCanvas(width, height, 4.4, 0, 1.2)
	c.rect(floorColor, -3, -2, 3, 0)
	c.rect(railColor, -1.85, 0.97, 1.85, 1.03)
	c.rect(bodyColor, p.x-0.2, 0.9, p.x+0.2, 1.1)
	s, co := math.Sincos(p.theta)
	c.capsule(poleColor, p.x, 1, p.x+cartpolePoleLength*s, 1+cartpolePoleLength*co, cartpolePoleRadius)
	c.disc(jointColor, p.x, 1, 0.03)
	return c.img, nil
}

// Frame draws the pendulum about its hinge, θ = 0 upright (envs.Framer).
func (p *PendulumPhysics) Frame(width, height int) (*image.RGBA, error) {
	c := newCanvas(width, height, 1.6, 0, 0)
	c.rect(floorColor, -2, -2, 2, -0.7)
	s, co := math.Sincos(p.theta)
	tx, tz := pendulumLength*s, pendulumLength*co
	c.capsule(poleColor, 0, 0, tx, tz, 0.02)
	c.disc(bodyColor, tx, tz, pendulumSphereRadius)
	c.disc(jointColor, 0, 0, 0.025)
	return c.img, nil
}
