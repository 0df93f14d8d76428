# The sweeper (docs/liveness.md): a Lambda function that EventBridge
# Scheduler invokes on a schedule, which finds the connections whose
# $disconnect was lost (GET @connections/{id} answers 410) through the
# connections table's byActivity index and removes them with their
# subscriptions, closes those that never sent connection_init, and, with
# sweeper_ping, pings idle graphql-transport-ws connections and closes those
# that do not answer. It is the SweeperFunction of template.yaml, for
# deployments that manage their functions with Terraform.
#
# It is created only when sweeper_package names the function's zip: the
# bootstrap of examples/chat (or of your own app calling srv.SweepHandler)
# built for linux/arm64, for instance
#
#   GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./examples/chat
#   zip sweeper.zip bootstrap
#
# It uses the tables and the store policy of dynamodb.tf.

variable "sweeper_package" {
  description = "Path of the zip holding the sweeper's bootstrap; empty: no sweeper."
  type        = string
  default     = ""
}

variable "sweeper_websocket_api_id" {
  description = "Id of the API Gateway WebSocket API whose connections the sweeper checks (execute-api:ManageConnections on it)."
  type        = string
  default     = ""
}

variable "sweeper_stage" {
  description = "Stage of the WebSocket API."
  type        = string
  default     = "prod"
}

variable "sweeper_schedule" {
  description = "How often a sweep runs (EventBridge Scheduler expression). A connection gone without $disconnect is removed within sweeper_idle_after plus this interval."
  type        = string
  default     = "rate(1 minute)"
}

variable "sweeper_idle_after" {
  description = "How long a connection is idle before a sweep checks it (GQLAMBDA_IDLE_AFTER, a Go duration)."
  type        = string
  default     = "5m"
}

variable "sweeper_init_timeout" {
  description = "How long a connection may go without connection_init before a sweep closes it (GQLAMBDA_INIT_TIMEOUT)."
  type        = string
  default     = "1m"
}

variable "sweeper_ping" {
  description = "Ping idle graphql-transport-ws connections and close those that do not answer (GQLAMBDA_PING)."
  type        = bool
  default     = false
}

locals {
  sweeper_count = var.sweeper_package == "" ? 0 : 1
}

data "aws_partition" "sweeper" {}
data "aws_region" "sweeper" {}
data "aws_caller_identity" "sweeper" {}

data "aws_iam_policy_document" "sweeper_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# GET to ask about a connection, DELETE to close it, POST to ping it.
data "aws_iam_policy_document" "sweeper_connections" {
  statement {
    sid     = "ManageConnections"
    actions = ["execute-api:ManageConnections"]
    resources = [
      for method in ["GET", "DELETE", "POST"] :
      "arn:${data.aws_partition.sweeper.partition}:execute-api:${data.aws_region.sweeper.name}:${data.aws_caller_identity.sweeper.account_id}:${var.sweeper_websocket_api_id}/${var.sweeper_stage}/${method}/@connections/*"
    ]
  }
}

resource "aws_iam_role" "sweeper" {
  count              = local.sweeper_count
  name_prefix        = "gqlambda-sweeper-"
  assume_role_policy = data.aws_iam_policy_document.sweeper_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "sweeper_store" {
  count  = local.sweeper_count
  role   = aws_iam_role.sweeper[0].id
  policy = data.aws_iam_policy_document.store.json
}

resource "aws_iam_role_policy" "sweeper_connections" {
  count  = local.sweeper_count
  role   = aws_iam_role.sweeper[0].id
  policy = data.aws_iam_policy_document.sweeper_connections.json
}

resource "aws_iam_role_policy_attachment" "sweeper_logs" {
  count      = local.sweeper_count
  role       = aws_iam_role.sweeper[0].name
  policy_arn = "arn:${data.aws_partition.sweeper.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

# One sweep at a time; a sweep stops after 50 s and leaves the rest to the
# next one.
resource "aws_lambda_function" "sweeper" {
  count                          = local.sweeper_count
  function_name                  = "${var.table_prefix}sweeper"
  description                    = "gqlambda sweeper (connections whose $disconnect was lost, uninitialised ones, ping/pong)."
  role                           = aws_iam_role.sweeper[0].arn
  filename                       = var.sweeper_package
  source_code_hash               = filebase64sha256(var.sweeper_package)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  memory_size                    = 256
  timeout                        = 60
  reserved_concurrent_executions = 1

  environment {
    variables = {
      GQLAMBDA_HANDLER             = "sweeper"
      GQLAMBDA_CONNECTIONS_TABLE   = aws_dynamodb_table.connections.name
      GQLAMBDA_SUBSCRIPTIONS_TABLE = aws_dynamodb_table.subscriptions.name
      GQLAMBDA_EVENTS_TABLE        = aws_dynamodb_table.events.name
      GQLAMBDA_IDLE_AFTER          = var.sweeper_idle_after
      GQLAMBDA_INIT_TIMEOUT        = var.sweeper_init_timeout
      GQLAMBDA_PING                = tostring(var.sweeper_ping)
    }
  }

  tags = var.tags
}

data "aws_iam_policy_document" "sweeper_scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sweeper_scheduler" {
  count              = local.sweeper_count
  name_prefix        = "gqlambda-sweeper-sched-"
  assume_role_policy = data.aws_iam_policy_document.sweeper_scheduler_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "sweeper_scheduler" {
  count = local.sweeper_count
  role  = aws_iam_role.sweeper_scheduler[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "lambda:InvokeFunction"
      Resource = aws_lambda_function.sweeper[0].arn
    }]
  })
}

# A failed sweep is not retried: the next one does it again.
resource "aws_scheduler_schedule" "sweeper" {
  count               = local.sweeper_count
  name_prefix         = "gqlambda-sweeper-"
  schedule_expression = var.sweeper_schedule

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.sweeper[0].arn
    role_arn = aws_iam_role.sweeper_scheduler[0].arn

    retry_policy {
      maximum_retry_attempts = 0
    }
  }
}

output "sweeper_function_name" {
  description = "Name of the sweeper function; empty without sweeper_package."
  value       = local.sweeper_count == 1 ? aws_lambda_function.sweeper[0].function_name : ""
}
