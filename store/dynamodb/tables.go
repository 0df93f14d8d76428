package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names. They are part of the table layout that
// [TableDefinitions], deploy/template.yaml and deploy/dynamodb.tf share.
const (
	// AttrID is the key of the connections and events tables.
	AttrID = "id"
	// AttrPK is the partition key of the subscriptions table: the topic and
	// its shard, "<topic>#<shard>".
	AttrPK = "pk"
	// AttrSK is the sort key of the subscriptions table: the connection id and
	// the subscription id, encoded so that no two pairs collide.
	AttrSK = "sk"
	// AttrConnectionID is the partition key of [IndexByConnection].
	AttrConnectionID = "connectionId"
	// AttrTTL holds the expiry of every item in Unix seconds, the attribute
	// DynamoDB's Time to Live deletes by.
	AttrTTL = "ttl"
	// IndexByConnection is the global secondary index of the subscriptions
	// table by connection (keys only), used to find subscriptions whose
	// connection record is gone.
	IndexByConnection = "byConnection"
	// AttrActivityShard is the partition key of [IndexByActivity] on
	// connection items: the connection's activity shard, "0" to
	// ActivityShards-1, a hash of its id.
	AttrActivityShard = "activityShard"
	// AttrLastActive is the sort key of [IndexByActivity]: when the
	// connection was last known alive, in Unix milliseconds.
	AttrLastActive = "lastActive"
	// IndexByActivity is the global secondary index of the connections
	// table by activity shard and last activity, which the sweeper pages
	// for idle connections (store.ActivityIndex). It projects what the
	// sweeper reads (IndexByActivityAttributes), not the contexts.
	IndexByActivity = "byActivity"
	// ActivityShards is the number of activity shards: the index's
	// partitions, read one after another by IdleConnections. It spreads
	// activity writes over that many index partitions; it never changes,
	// since connections are found by it.
	ActivityShards = 16
)

// IndexByActivityAttributes are the non-key attributes [IndexByActivity]
// projects: what a sweeper needs to handle a connection.
var IndexByActivityAttributes = []string{"ack", "connectedAt", "deletingAt", "endpoint", "expiresAt", "pingedAt", "protocol"}

// Tables names the three tables. The zero value of a field takes its
// default.
type Tables struct {
	// Connections holds one item per WebSocket connection. Default
	// "gqlambda-connections".
	Connections string
	// Subscriptions holds one item per subscription and topic. Default
	// "gqlambda-subscriptions".
	Subscriptions string
	// Events is the event store whose stream feeds the stream handler.
	// Default "gqlambda-events".
	Events string
}

// Default table names.
const (
	DefaultConnectionsTable   = "gqlambda-connections"
	DefaultSubscriptionsTable = "gqlambda-subscriptions"
	DefaultEventsTable        = "gqlambda-events"
)

// DefaultTablePrefix starts the default table names.
const DefaultTablePrefix = "gqlambda-"

// PrefixedTables names the three tables prefix+"connections",
// prefix+"subscriptions" and prefix+"events", the names the SAM template and
// the Terraform file give them. PrefixedTables(DefaultTablePrefix) gives the
// default names.
func PrefixedTables(prefix string) Tables {
	return Tables{Connections: prefix + "connections", Subscriptions: prefix + "subscriptions", Events: prefix + "events"}
}

func (t Tables) withDefaults() Tables {
	if t.Connections == "" {
		t.Connections = DefaultConnectionsTable
	}
	if t.Subscriptions == "" {
		t.Subscriptions = DefaultSubscriptionsTable
	}
	if t.Events == "" {
		t.Events = DefaultEventsTable
	}
	return t
}

// TableDefinitions returns the CreateTable inputs of the three tables
// (connections, subscriptions, events), on-demand billing. The SAM template
// and the Terraform file in deploy/ define the same tables; a test checks
// that they agree.
func TableDefinitions(t Tables) []*dynamodb.CreateTableInput {
	t = t.withDefaults()
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	number := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeN}
	}
	key := func(name string, kt types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
	}
	return []*dynamodb.CreateTableInput{
		{
			TableName:            aws.String(t.Connections),
			AttributeDefinitions: []types.AttributeDefinition{str(AttrID), str(AttrActivityShard), number(AttrLastActive)},
			KeySchema:            []types.KeySchemaElement{key(AttrID, types.KeyTypeHash)},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName: aws.String(IndexByActivity),
				KeySchema: []types.KeySchemaElement{key(AttrActivityShard, types.KeyTypeHash), key(AttrLastActive, types.KeyTypeRange)},
				Projection: &types.Projection{
					ProjectionType:   types.ProjectionTypeInclude,
					NonKeyAttributes: slices.Clone(IndexByActivityAttributes),
				},
			}},
			BillingMode: types.BillingModePayPerRequest,
		},
		{
			TableName:            aws.String(t.Subscriptions),
			AttributeDefinitions: []types.AttributeDefinition{str(AttrPK), str(AttrSK), str(AttrConnectionID)},
			KeySchema:            []types.KeySchemaElement{key(AttrPK, types.KeyTypeHash), key(AttrSK, types.KeyTypeRange)},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName:  aws.String(IndexByConnection),
				KeySchema:  []types.KeySchemaElement{key(AttrConnectionID, types.KeyTypeHash), key(AttrSK, types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			}},
			BillingMode: types.BillingModePayPerRequest,
		},
		{
			TableName:            aws.String(t.Events),
			AttributeDefinitions: []types.AttributeDefinition{str(AttrID)},
			KeySchema:            []types.KeySchemaElement{key(AttrID, types.KeyTypeHash)},
			BillingMode:          types.BillingModePayPerRequest,
			StreamSpecification: &types.StreamSpecification{
				StreamEnabled:  aws.Bool(true),
				StreamViewType: types.StreamViewTypeNewImage,
			},
		},
	}
}

// TableAPI is the part of the DynamoDB client that [CreateTables] uses.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

// CreateTables creates the tables of [TableDefinitions] where they do not
// exist, waits until each is active and enables Time to Live on [AttrTTL].
// It is idempotent: tables that exist are left as they are (their TTL is
// enabled if it is not). Meant for DynamoDB Local, tests and quick starts;
// production tables come from deploy/template.yaml or deploy/dynamodb.tf.
func CreateTables(ctx context.Context, client TableAPI, t Tables) error {
	for _, def := range TableDefinitions(t) {
		name := aws.ToString(def.TableName)
		_, err := client.CreateTable(ctx, def)
		if _, exists := errors.AsType[*types.ResourceInUseException](err); err != nil && !exists {
			return fmt.Errorf("dynamodb: create table %s: %w", name, err)
		}
		w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: def.TableName}, 2*time.Minute); err != nil {
			return fmt.Errorf("dynamodb: wait for table %s: %w", name, err)
		}
		ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: def.TableName})
		if err != nil {
			return fmt.Errorf("dynamodb: describe time to live of %s: %w", name, err)
		}
		if d := ttl.TimeToLiveDescription; d != nil && (d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
			continue
		}
		if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               def.TableName,
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("dynamodb: enable time to live on %s: %w", name, err)
		}
	}
	return nil
}
