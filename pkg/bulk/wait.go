package bulk

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitPolicy says how often WaitIngestJob and WaitQueryJob look at a job:
// first right away, then after Initial, and after each look the pause grows
// by Multiplier up to Max, but never past a quarter of the time waited so
// far (and never below Initial). Small jobs thus finish with little delay,
// a job is seen finished at most about a quarter of its time late, and
// long ones cost few requests (each counts against the org's API limit):
// with the defaults, about 20 looks for a job of a minute and 75 for ten
// minutes (once the pause reaches Max, one look every Max).
type WaitPolicy struct {
	// Initial is the first pause. Zero means 500ms.
	Initial time.Duration
	// Max bounds every pause. Zero means 10s.
	Max time.Duration
	// Multiplier grows the pause after each look. Zero means 1.5; it
	// must not be below 1.
	Multiplier float64
}

func (p WaitPolicy) withDefaults() (WaitPolicy, error) {
	if p.Initial < 0 || p.Max < 0 || (p.Multiplier != 0 && p.Multiplier < 1) {
		return p, fmt.Errorf("wait policy %+v: negative duration or multiplier below 1", p)
	}
	if p.Initial == 0 {
		p.Initial = 500 * time.Millisecond
	}
	if p.Max == 0 {
		p.Max = 10 * time.Second
	}
	if p.Multiplier == 0 {
		p.Multiplier = 1.5
	}
	p.Max = max(p.Max, p.Initial)
	return p, nil
}

// ErrJobOpen is returned by WaitIngestJob for a job still Open: it waits for
// its data and CloseIngestJob, and would never finish by itself.
var ErrJobOpen = errors.New("job is Open: close it to start processing")

// WaitIngestJob polls the job until it is JobComplete, Failed or Aborted and
// returns its final info. A job that ended Failed or Aborted is not an
// error of WaitIngestJob; check info.State or info.Err(). A job still Open
// returns ErrJobOpen. When ctx ends first, WaitIngestJob returns the last
// info it saw with ctx's error. Each look is a request, retried on
// transient failures; one that fails for good ends the wait with its error.
func (c *Client) WaitIngestJob(ctx context.Context, jobID string) (*JobInfo, error) {
	return c.WaitIngestJobFor(ctx, jobID, 0)
}

// WaitPolicy returns the client's wait policy, defaults filled in.
func (c *Client) WaitPolicy() WaitPolicy { return c.wait }

// MinFirstPause bounds from below the first pause of WaitIngestJobFor.
const MinFirstPause = 10 * time.Millisecond

// WaitIngestJobFor is WaitIngestJob for a job that the caller expects to
// end about expect from now (from how long jobs like it took). A job just
// closed is not done, so the first look comes at expect (at least
// MinFirstPause), or at the policy's first pause when expect is not below
// it, rather than at once: a request saved a job. A job not done at expect
// is likely done soon after: the next look comes half expect later (at
// least MinFirstPause), and the pauses double from there until they reach
// the policy's first pause; the policy's pauses follow. A job of a fast org
// is then seen done when it is, in one look when the guess is right, and
// within about twice its time, a few looks more, when it is not (at most
// log2(first pause / MinFirstPause) + 1 more). expect <= 0 is
// WaitIngestJob, which looks at once.
func (c *Client) WaitIngestJobFor(ctx context.Context, jobID string, expect time.Duration) (*JobInfo, error) {
	info, err := c.waitJob(ctx, ingestJobs, jobID, expect)
	if err != nil {
		return info, fmt.Errorf("wait for ingest job %s: %w", jobID, err)
	}
	return info, nil
}

// WaitQueryJob polls the query job until it is JobComplete, Failed or
// Aborted, like WaitIngestJob.
func (c *Client) WaitQueryJob(ctx context.Context, jobID string) (*JobInfo, error) {
	info, err := c.waitJob(ctx, queryJobs, jobID, 0)
	if err != nil {
		return info, fmt.Errorf("wait for query job %s: %w", jobID, err)
	}
	return info, nil
}

func (c *Client) waitJob(ctx context.Context, kind jobKind, id string, expect time.Duration) (*JobInfo, error) {
	start := time.Now()
	pause := c.wait.Initial
	early := expect > 0 && expect < pause // the looks come at expect, then sooner than the policy's
	if early {
		pause = max(expect, MinFirstPause)
	}
	next := max(expect/2, MinFirstPause) // the pause after a look at expect, doubling
	advance := func() {
		if early {
			if pause, next = next, 2*next; pause >= c.wait.Initial {
				pause, early = c.wait.Initial, false
			}
			return
		}
		pause = min(time.Duration(float64(pause)*c.wait.Multiplier), c.wait.Max, max(time.Since(start)/4, c.wait.Initial))
	}
	if expect > 0 { // a job expected to take a while is not done at once: no look before the first pause
		if err := sleep(ctx, pause); err != nil {
			return nil, err
		}
		advance()
	}
	var last *JobInfo
	for {
		info, err := c.getJob(ctx, kind, id)
		if err != nil {
			return last, err
		}
		last = info
		if info.State.Terminal() {
			return info, nil
		}
		if info.State == StateOpen {
			return info, ErrJobOpen
		}
		if err := sleep(ctx, pause); err != nil {
			return info, err
		}
		advance()
	}
}
