package store

import (
	"context"
	"time"
)

// Delivery names one delivery: the event EventID to the subscription
// SubscriptionID of connection ConnectionID. It is what a [DeliveryLog]
// remembers.
type Delivery struct {
	EventID        string
	ConnectionID   string
	SubscriptionID string
}

// ClaimStatus is the outcome of [DeliveryLog.ClaimDelivery].
type ClaimStatus int

// The outcomes of a claim.
const (
	// Claimed: the caller holds the delivery until its lease ends, and must
	// end the claim with FinishDelivery once it knows whether the event
	// reached the subscription.
	Claimed ClaimStatus = iota + 1
	// AlreadyDelivered: a claim of the delivery was finished as delivered,
	// and its record has not expired: the caller must not deliver again.
	AlreadyDelivered
	// InProgress: another caller holds the delivery and its lease has not
	// ended. The caller must neither deliver nor give up: it tries again
	// later, once the other caller finished or its lease ran out.
	InProgress
)

// String returns the status's name.
func (c ClaimStatus) String() string {
	switch c {
	case Claimed:
		return "claimed"
	case AlreadyDelivered:
		return "already-delivered"
	case InProgress:
		return "in-progress"
	}
	return "unknown"
}

// DeliveryLog is an optional capability of a [Store]: it remembers which
// events reached which subscriptions, so that an event that an at-least-once
// source (SQS, SNS, EventBridge, Kinesis, a DynamoDB stream) delivers again
// reaches each subscription once. The server checks for it with a type
// assertion; a store without it still works, and redelivered events then
// reach the subscriptions that had them again. store/memory and
// store/dynamodb implement it; store/storetest checks implementations.
//
// A delivery goes through a claim: ClaimDelivery records it as in progress
// for the caller (identified by a token of its own) until a lease ends, the
// caller posts the event, and FinishDelivery records the outcome. A caller
// that crashed between the two leaves a claim that the next caller takes
// over once the lease has ended. Records are forgotten when they expire (the
// end of the deduplication window); a store treats an expired record as
// absent even while it still holds it.
//
// Implementations are safe for concurrent use by many processes, and
// ClaimDelivery is atomic: of concurrent claims of one delivery, at most one
// gets Claimed.
type DeliveryLog interface {
	// ClaimDelivery claims d for the caller identified by token (a random
	// value unique to the caller). It returns Claimed when d has no
	// unexpired record, or when its record is an unfinished claim whose lease
	// ended at or before now (the claim is then taken over); the record then
	// holds token, leaseUntil and expiresAt. It returns AlreadyDelivered for
	// a record finished as delivered, and InProgress for another caller's
	// claim whose lease has not ended. now is the store's own clock.
	ClaimDelivery(ctx context.Context, d Delivery, token string, leaseUntil, expiresAt time.Time) (ClaimStatus, error)

	// FinishDelivery ends the claim that token holds on d. With delivered
	// set, the record stays until the expiresAt of the claim, and later
	// claims of d get AlreadyDelivered. Otherwise the record is removed, so
	// that the next claim gets Claimed. A record that another token holds
	// now (the claim was taken over), or that is gone, is left as it is, and
	// FinishDelivery returns nil.
	FinishDelivery(ctx context.Context, d Delivery, token string, delivered bool) error
}
