# gqlambda's three DynamoDB tables and the IAM policies its functions need on
# them. The tables must match TableDefinitions in store/dynamodb/tables.go;
# deploy/iactest/iac_test.go checks that they do.
#
# Only the tables and policies live here: the WebSocket and HTTP APIs, the
# functions and the stream's event source mapping are in template.yaml (SAM).
# Attach store_policy_json to every function's role, and stream_read_policy_json
# to the role of the function the events table's stream invokes.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "table_prefix" {
  description = "Prefix of the table names: <prefix>connections, <prefix>subscriptions, <prefix>events."
  type        = string
  default     = "gqlambda-"
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery on the tables. Their items live for hours, so it is off by default."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the tables."
  type        = map(string)
  default     = {}
}

# One item per WebSocket connection; byActivity pages the idle ones for the
# sweeper (docs/liveness.md).
resource "aws_dynamodb_table" "connections" {
  name         = "${var.table_prefix}connections"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "activityShard"
    type = "S"
  }

  attribute {
    name = "lastActive"
    type = "N"
  }

  global_secondary_index {
    name               = "byActivity"
    hash_key           = "activityShard"
    range_key          = "lastActive"
    projection_type    = "INCLUDE"
    non_key_attributes = ["ack", "connectedAt", "deletingAt", "endpoint", "expiresAt", "pingedAt", "protocol"]
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  tags = var.tags
}

# One item per subscription and topic, read by topic; byConnection finds a
# connection's subscriptions for clean-up.
resource "aws_dynamodb_table" "subscriptions" {
  name         = "${var.table_prefix}subscriptions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "connectionId"
    type = "S"
  }

  global_secondary_index {
    name            = "byConnection"
    hash_key        = "connectionId"
    range_key       = "sk"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  tags = var.tags
}

# The event store: its stream feeds the function that fans events out.
resource "aws_dynamodb_table" "events" {
  name             = "${var.table_prefix}events"
  billing_mode     = "PAY_PER_REQUEST"
  hash_key         = "id"
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  tags = var.tags
}

# What the store does on the tables and the index. TransactWriteItems is
# authorised by the per-item actions (PutItem, UpdateItem, DeleteItem,
# ConditionCheckItem).
data "aws_iam_policy_document" "store" {
  statement {
    sid = "Store"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [
      aws_dynamodb_table.connections.arn,
      aws_dynamodb_table.subscriptions.arn,
      "${aws_dynamodb_table.subscriptions.arn}/index/byConnection",
      "${aws_dynamodb_table.connections.arn}/index/byActivity",
      aws_dynamodb_table.events.arn,
    ]
  }
}

# What a Lambda event source mapping on the events table's stream needs in
# the role of the function it invokes.
data "aws_iam_policy_document" "stream_read" {
  statement {
    sid = "StreamRead"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
    ]
    resources = [aws_dynamodb_table.events.stream_arn]
  }

  statement {
    sid       = "ListStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }
}

output "connections_table_name" {
  description = "Name of the connections table (GQLAMBDA_CONNECTIONS_TABLE)."
  value       = aws_dynamodb_table.connections.name
}

output "subscriptions_table_name" {
  description = "Name of the subscriptions table (GQLAMBDA_SUBSCRIPTIONS_TABLE)."
  value       = aws_dynamodb_table.subscriptions.name
}

output "events_table_name" {
  description = "Name of the events table (GQLAMBDA_EVENTS_TABLE)."
  value       = aws_dynamodb_table.events.name
}

output "events_stream_arn" {
  description = "ARN of the events table's stream, the event source of the stream function."
  value       = aws_dynamodb_table.events.stream_arn
}

output "store_policy_json" {
  description = "IAM policy (JSON) with the store's DynamoDB permissions, for every function's role."
  value       = data.aws_iam_policy_document.store.json
}

output "stream_read_policy_json" {
  description = "IAM policy (JSON) to read the events table's stream, for the stream function's role."
  value       = data.aws_iam_policy_document.stream_read.json
}
