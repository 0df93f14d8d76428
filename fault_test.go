package gqlambda_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/faultproxy"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// TestStoreFaultsOnDynamoDBLocal: the DynamoDB store on DynamoDB Local,
// reached through a proxy that refuses or hangs its connections for a
// while. During the fault every frame is answered within the store
// timeout, a ping still gets its pong, a Publish reports the failure (the
// publisher can send it again: nothing is lost silently), and a
// $disconnect's clean-up that fails is remembered. Once the store answers
// again, the remembered clean-up runs, a Publish reaches every live
// subscription exactly once, and when the clients are gone no row is left.
func TestStoreFaultsOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	cfg, endpoint := dynamotest.Config(t) // skips without DynamoDB Local
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	direct := awsdynamodb.NewFromConfig(cfg, func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	tables := dynamodb.PrefixedTables(dynamotest.Prefix(t))
	if err := dynamodb.CreateTables(t.Context(), direct, tables); err != nil {
		t.Fatal(err)
	}
	for _, fault := range []struct {
		name string
		mode faultproxy.Mode
	}{{"refusing", faultproxy.Refuse}, {"hanging", faultproxy.Hang}} {
		t.Run(fault.name, func(t *testing.T) {
			proxy := faultproxy.New(t, u.Host)
			client := awsdynamodb.NewFromConfig(cfg, func(o *awsdynamodb.Options) {
				o.BaseEndpoint = aws.String("http://" + proxy.Addr)
				o.RetryMaxAttempts = 1
			})
			h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
				c.Store = dynamodb.New(client, &dynamodb.Options{Tables: tables})
				c.Limits.StoreTimeout = time.Second
			})
			check := dynamodb.New(direct, &dynamodb.Options{Tables: tables}) // reads past the proxy
			topic := "A"
			conn := func(name string) string { return fault.name + "-" + name }
			c1, c2 := conn("c1"), conn("c2")
			h.ready(c1)
			h.ready(c2)
			h.subscribe(c1, "s1", "subscription { multi { id } }")
			h.subscribe(c2, "s1", "subscription { multi { id } }")

			proxy.Set(fault.mode)
			began := time.Now()
			h.send(c2, `{"type":"ping"}`)
			if got := codes(h.take(c2)); strings.Join(got, ",") != "pong" {
				t.Errorf("ping while the store fails: %v, want its pong", got)
			}
			h.hangUp(c1, 1001, "")
			if _, err := h.srv.Publish(t.Context(), topic, map[string]any{"id": "during"}); err == nil {
				t.Errorf("Publish while the store fails: no error, want the failure reported")
			}
			if took := time.Since(began); took > 20*time.Second {
				t.Errorf("three calls while the store fails took %v", took)
			}
			if n := h.srv.PendingCleanups(); n != 1 {
				t.Errorf("PendingCleanups %d during the fault, want 1 (c1)", n)
			}

			proxy.Set(faultproxy.Pass)
			deadline := time.Now().Add(30 * time.Second)
			for h.srv.PendingCleanups() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the remembered clean-up never ran")
				}
				h.send(c2, `{"type":"ping"}`) // each invocation retries pending clean-ups
				time.Sleep(100 * time.Millisecond)
			}
			h.take(c2)
			if _, err := check.GetConnection(t.Context(), c1); err == nil {
				t.Errorf("connection %s still stored", c1)
			}
			for sub, err := range check.TopicSubscriptions(t.Context(), topic) {
				if err != nil {
					t.Fatal(err)
				}
				if sub.ConnectionID == c1 {
					t.Errorf("subscription %s of %s still stored", sub.ID, c1)
				}
			}
			res, err := h.srv.Publish(t.Context(), topic, map[string]any{"id": "after"})
			if err != nil || res.Delivered != 1 || res.Matched != 1 {
				t.Errorf("Publish once the store answers: %+v, %v; want c2's subscription alone", res, err)
			}
			if got := codes(h.take(c2)); strings.Join(got, ",") != "next" {
				t.Errorf("c2 got %v, want one next", got)
			}
			if got := h.take(c1); len(got) != 0 {
				t.Errorf("c1, gone, got %v", got)
			}
			h.hangUp(c2, 1000, "")
			for _, table := range []string{tables.Connections, tables.Subscriptions} {
				out, err := direct.Scan(t.Context(), &awsdynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range out.Items {
					id := fmt.Sprint(item[dynamodb.AttrID])
					if cid, ok := item[dynamodb.AttrConnectionID]; ok {
						id = fmt.Sprint(cid)
					} else if table == tables.Subscriptions {
						continue // a delivery log item
					}
					if strings.Contains(id, fault.name+"-") {
						t.Errorf("%s still holds an item of this test: %v", table, item)
					}
				}
			}
		})
	}
}
