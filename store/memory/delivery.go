package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

var _ store.DeliveryLog = (*Store)(nil)

// deliveryRecord is what the store remembers of one delivery.
type deliveryRecord struct {
	token      string
	delivered  bool
	leaseUntil time.Time
	expiresAt  time.Time
}

// deliveries is the store's delivery log, under a lock of its own: it shares
// nothing with connections and subscriptions.
type deliveries struct {
	mu      sync.Mutex
	records map[store.Delivery]deliveryRecord
	writes  int // writes since the last purge
	purge   int // writes that trigger the next purge
}

// ClaimDelivery implements [store.DeliveryLog]: see its documentation. An
// empty event id is refused.
func (s *Store) ClaimDelivery(ctx context.Context, d store.Delivery, token string, leaseUntil, expiresAt time.Time) (store.ClaimStatus, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if d.EventID == "" {
		return 0, errors.New("memory: claim delivery: empty event id")
	}
	now := s.now()
	l := &s.deliveries
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.records[d]; ok && !expired(r.expiresAt, now) {
		switch {
		case r.delivered:
			return store.AlreadyDelivered, nil
		case r.leaseUntil.After(now):
			return store.InProgress, nil
		}
	}
	if l.records == nil {
		l.records = make(map[store.Delivery]deliveryRecord)
	}
	l.records[d] = deliveryRecord{token: token, leaseUntil: leaseUntil, expiresAt: expiresAt}
	l.wrote(now)
	return store.Claimed, nil
}

// FinishDelivery implements [store.DeliveryLog]: see its documentation.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery, token string, delivered bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := &s.deliveries
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.records[d]
	if !ok || r.token != token {
		return nil
	}
	if delivered {
		r.delivered = true
		l.records[d] = r
	} else {
		delete(l.records, d)
	}
	return nil
}

// wrote counts a claim and drops every expired record once the claims since
// the last purge reach the number of records it left (and at least
// minPurgeWrites): O(1) per claim amortized. The caller holds l.mu.
func (l *deliveries) wrote(now time.Time) {
	l.writes++
	if l.writes < max(l.purge, minPurgeWrites) {
		return
	}
	for d, r := range l.records {
		if expired(r.expiresAt, now) {
			delete(l.records, d)
		}
	}
	l.writes = 0
	l.purge = len(l.records)
}
