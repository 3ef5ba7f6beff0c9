package widgets

import (
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/dom"
)

// How GoNB talks to a browser, and why widgets probe first (GoNB v0.11.5, read from its
// source and measured):
//
//   - A cell is a process; it writes display data and widget ("comms") messages to a named
//     pipe that the kernel reads one message at a time.
//   - The first comms message of a cell makes the kernel install a WebSocket in the browser
//     and wait up to 3 s for it to connect. Without a browser (nbconvert, nbclient) every
//     comms message pays those 3 s again, and the kernel reads nothing else meanwhile: a cell
//     that built four widgets headless would stall its own plots for 12 s, and the widgets'
//     Done methods wait for the browser's first answer forever.
//   - Messages from the browser reach only the cell that is running when they arrive: a
//     widget's handlers live as long as the process of the cell that made it.
//
// So FrontEnd sends exactly one comms message (a subscription to a probe address), then a
// line of JavaScript that answers on that address; a connected browser answers within
// milliseconds, and without one the probe gives up after the kernel's timeout plus a short
// grace. Once it has said "no", this process sends no further comms messages, and the
// controls render as static HTML.

// InNotebook reports whether this process is a GoNB cell (it was started by the GoNB kernel,
// whether or not a browser is attached).
func InNotebook() bool { return gonbui.IsNotebook }

// FrontEndEnv, when set in the environment, skips the probe: "none" (or "static") says no
// browser answers (widgets render static HTML at once), "live" says one does.
const FrontEndEnv = "POMPC_FRONTEND"

// ProbeGrace is how long FrontEnd waits for the browser's answer after the kernel has handled
// the probe (the kernel itself waits up to 3 s for a WebSocket to connect).
var ProbeGrace = 1500 * time.Millisecond

// probeCap bounds the whole probe whatever happens in the kernel.
const probeCap = 15 * time.Second

var frontEnd struct {
	once sync.Once
	ok   bool
	took time.Duration
}

// FrontEnd reports whether a browser front end is connected to this notebook and answers
// widget messages. The first call probes (a few milliseconds with a browser; about 4.5 s
// without one, under nbconvert or nbclient) and later calls return the cached answer. Outside
// a GoNB notebook it returns false at once. It never blocks longer than probeCap.
func FrontEnd() bool {
	frontEnd.once.Do(func() {
		t0 := time.Now()
		frontEnd.ok = probeFrontEnd()
		frontEnd.took = time.Since(t0)
	})
	return frontEnd.ok
}

// FrontEndProbeTime is how long the front-end probe took (0 before FrontEnd was called).
func FrontEndProbeTime() time.Duration { return frontEnd.took }

func probeFrontEnd() bool {
	if !gonbui.IsNotebook || gonbui.Error() != nil {
		return false
	}
	switch os.Getenv(FrontEndEnv) {
	case "none", "static":
		return false
	case "live":
		return true
	}
	addr := "/pompc/probe/" + gonbui.UniqueId()
	answered := make(chan struct{})
	var once sync.Once
	sub := comms.Subscribe(addr, func(string, int) { once.Do(func() { close(answered) }) })
	handled := make(chan struct{})
	go func() {
		// TransientJavascript ends with a Sync, which returns once the kernel has read
		// everything before it: the subscription (and its WebSocket install attempt) included.
		dom.TransientJavascript(fmt.Sprintf(
			`globalThis.gonb_comm && globalThis.gonb_comm.newSyncedVariable(%q, 1);`, addr))
		close(handled)
	}()
	ok := false
	select {
	case <-answered:
		ok = true
	case <-handled:
		select {
		case <-answered:
			ok = true
		case <-time.After(ProbeGrace):
		}
	case <-time.After(probeCap):
	}
	if ok {
		comms.Unsubscribe(sub)
	}
	// Without a front end, even an unsubscription is left unsent: it is harmless to leave.
	return ok
}

// displayHTML shows an HTML block as the cell's output (no-op outside a notebook).
func displayHTML(s string) { gonbui.DisplayHTML(s) }

// updateHTML creates or replaces the output block with the given display id (no-op outside a
// notebook).
func updateHTML(id, s string) { gonbui.UpdateHTML(id, s) }

// syncDisplay waits until the kernel has read everything sent so far (no-op outside a
// notebook). Cells call it before they exit so the last picture is not lost.
func syncDisplay() { gonbui.Sync() }

func uniqueID() string { return gonbui.UniqueId() }

func htmlEscape(s string) string { return html.EscapeString(s) }

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
