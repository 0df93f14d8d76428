package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// defaultPrefix prefixes the default table names (dynamodb.Default*Table).
const defaultPrefix = dynamodb.DefaultTablePrefix

const tablesUsage = `usage: gqlambda tables <create|describe> [flags]

Manage the connections, subscriptions and events tables of store/dynamodb,
named PREFIX+"connections", PREFIX+"subscriptions" and PREFIX+"events".

	create    create the tables (idempotent) and print their names
	describe  print their status, item count and stream

Run 'gqlambda help tables create' for the flags.
`

const tablesCreateUsage = `usage: gqlambda tables create [-dynamodb URL] [-prefix gqlambda-] [-region REGION]

Create the connections, subscriptions and events tables of store/dynamodb
where they do not exist (dynamodb.CreateTables: on-demand billing, Time to
Live on "ttl", a stream of new images on the events table), wait until they
are active and print their names as the environment variables of gqlambda
functions:

	GQLAMBDA_CONNECTIONS_TABLE=gqlambda-connections
	GQLAMBDA_SUBSCRIPTIONS_TABLE=gqlambda-subscriptions
	GQLAMBDA_EVENTS_TABLE=gqlambda-events

Meant for DynamoDB Local and quick starts: production tables come from
deploy/template.yaml or deploy/dynamodb.tf.
`

const tablesDescribeUsage = `usage: gqlambda tables describe [-dynamodb URL] [-prefix gqlambda-] [-region REGION]

Print the status, item count (as DynamoDB last computed it) and stream ARN of
the connections, subscriptions and events tables.
`

// tables runs `gqlambda tables`.
func (c cli) tables(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErrorf("tables", "no subcommand given: create or describe")
	}
	switch args[0] {
	case "create":
		return c.tablesCreate(ctx, args[1:])
	case "describe":
		return c.tablesDescribe(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, tablesUsage)
		return flag.ErrHelp
	}
	return usageErrorf("tables", "unknown subcommand %q: want create or describe", args[0])
}

// tablesOptions are the flags of the tables subcommands.
type tablesOptions struct {
	dynamo dynamoFlags
	prefix string
}

// parseTables parses the flags of a tables subcommand.
func (c cli) parseTables(cmd command, args []string) (tablesOptions, error) {
	var o tablesOptions
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	o.dynamo.register(fs)
	fs.StringVar(&o.prefix, "prefix", defaultPrefix, "table name `prefix`")
	if err := c.parse(cmd, fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageErrorf(cmd.name, "unexpected argument %q", fs.Arg(0))
	}
	return o, o.dynamo.validate(cmd.name)
}

// tablesCreate runs `gqlambda tables create`.
func (c cli) tablesCreate(ctx context.Context, args []string) error {
	o, err := c.parseTables(command{name: "tables create", usage: tablesCreateUsage}, args)
	if err != nil {
		return err
	}
	client, err := c.dynamoClient(ctx, o.dynamo)
	if err != nil {
		return err
	}
	t := dynamodb.PrefixedTables(o.prefix)
	if err := dynamodb.CreateTables(ctx, client, t); err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	fmt.Fprintf(c.stdout, "GQLAMBDA_CONNECTIONS_TABLE=%s\nGQLAMBDA_SUBSCRIPTIONS_TABLE=%s\nGQLAMBDA_EVENTS_TABLE=%s\n",
		t.Connections, t.Subscriptions, t.Events)
	return nil
}

// tablesDescribe runs `gqlambda tables describe`.
func (c cli) tablesDescribe(ctx context.Context, args []string) error {
	o, err := c.parseTables(command{name: "tables describe", usage: tablesDescribeUsage}, args)
	if err != nil {
		return err
	}
	client, err := c.dynamoClient(ctx, o.dynamo)
	if err != nil {
		return err
	}
	t := dynamodb.PrefixedTables(o.prefix)
	var rows []string
	for _, name := range []string{t.Connections, t.Subscriptions, t.Events} {
		out, err := client.DescribeTable(ctx, &awsdynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("gqlambda: describe table %s: %w", name, err)
		}
		d := out.Table
		stream := "-"
		if d.LatestStreamArn != nil {
			stream = *d.LatestStreamArn
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%d\t%s", name, d.TableStatus, aws.ToInt64(d.ItemCount), stream))
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tSTATUS\tITEMS\tSTREAM")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	return w.Flush()
}
