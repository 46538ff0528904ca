package controller

import (
	"context"
	"sync"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// reserver batches the Ledger.Reserve calls of volumes reconciled at the
// same time: while one batch is written, the next gathers, and a batch
// costs one NodeAllocation write per node instead of one per volume and
// node (and the conflicts those writes meet on the same few ledgers). A
// batch that fails is retried volume by volume, so one volume's conflict
// never fails another.
type reserver struct {
	ledger  *Ledger
	mu      sync.Mutex
	queue   []*reservation
	running bool
}

// reservation is one volume's Reserve call waiting for its batch.
type reservation struct {
	ranges storagev1alpha1.AllocationSettings
	needs  []Need
	grants map[string]map[string]Grant
	err    error
	done   chan struct{}
}

// Reserve is Ledger.Reserve, batched with concurrent calls.
func (r *reserver) Reserve(ctx context.Context, ranges storagev1alpha1.AllocationSettings, needs []Need) (map[string]map[string]Grant, error) {
	res := &reservation{ranges: ranges, needs: needs, done: make(chan struct{})}
	r.mu.Lock()
	r.queue = append(r.queue, res)
	lead := !r.running
	r.running = true
	r.mu.Unlock()
	if lead {
		r.drain(ctx) // the first caller writes batches until none is left
	}
	select {
	case <-res.done:
		return res.grants, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *reserver) drain(ctx context.Context) {
	for {
		r.mu.Lock()
		batch := r.queue
		r.queue = nil
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.reserve(ctx, batch)
	}
}

// reserve serves one batch: its calls with equal ranges together, alone
// when that fails.
func (r *reserver) reserve(ctx context.Context, batch []*reservation) {
	for len(batch) > 0 {
		same := []*reservation{batch[0]}
		var rest []*reservation
		for _, res := range batch[1:] {
			if res.ranges == batch[0].ranges {
				same = append(same, res)
			} else {
				rest = append(rest, res)
			}
		}
		r.together(ctx, same)
		batch = rest
	}
}

func (r *reserver) together(ctx context.Context, batch []*reservation) {
	if len(batch) > 1 {
		var needs []Need
		for _, res := range batch {
			needs = append(needs, res.needs...)
		}
		grants, err := r.ledger.Reserve(ctx, batch[0].ranges, needs)
		if err == nil {
			for _, res := range batch {
				res.grants = map[string]map[string]Grant{}
				for _, n := range res.needs {
					res.grants[n.Volume] = grants[n.Volume]
				}
				close(res.done)
			}
			return
		}
	}
	for _, res := range batch {
		res.grants, res.err = r.ledger.Reserve(ctx, res.ranges, res.needs)
		close(res.done)
	}
}
