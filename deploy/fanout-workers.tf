# Scale-out fan-out (docs/scale-out.md): the queue of the ranges of split
# publishes, its dead-letter queue, the worker function and its SQS event
# source mapping, and the IAM policies of both sides. It sits beside
# dynamodb.tf (same module): the worker uses its tables and store policy.
#
# The worker is the chat binary (examples/chat, GQLAMBDA_HANDLER=ranges)
# or any binary whose main runs lambda.Start(srv.RangeHandler()) with
# Config.ScaleOut set; build it for provided.al2023/arm64 and pass the zip
# as fanout_workers_zip. Attach fanout_workers_send_policy_json to the role
# of every function that publishes, and set GQLAMBDA_RANGES_QUEUE_URL (the
# output fanout_workers_queue_url) in their environment.

variable "fanout_workers_zip" {
  description = "Path of the worker function's deployment package (a zip holding bootstrap)."
  type        = string
  default     = "bootstrap.zip"
}

variable "fanout_workers_connections_arn" {
  description = "ARN pattern of the WebSocket stage's @connections API the workers post to, such as arn:aws:execute-api:REGION:ACCOUNT:APIID/STAGE."
  type        = string
  default     = "arn:aws:execute-api:*:*:*/*"
}

variable "fanout_workers_max_concurrency" {
  description = "Most worker invocations at once: the event source mapping's scaling_config.maximum_concurrency (2 to 1000)."
  type        = number
  default     = 20
}

variable "fanout_workers_posts_per_second" {
  description = "@connections posts per second of all workers together (API Gateway's account throttle: 10,000 by default)."
  type        = number
  default     = 10000
}

variable "fanout_workers_max_receive" {
  description = "Receives of a range before it goes to the dead-letter queue (the redrive policy's maxReceiveCount)."
  type        = number
  default     = 5
}

variable "fanout_workers_timeout" {
  description = "The worker function's timeout, in seconds; the queue's visibility timeout is six times it."
  type        = number
  default     = 120
}

resource "aws_sqs_queue" "fanout_workers_dlq" {
  name                      = "${var.table_prefix}ranges-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "fanout_workers_queue" {
  name                       = "${var.table_prefix}ranges"
  visibility_timeout_seconds = 6 * var.fanout_workers_timeout
  message_retention_seconds  = 86400
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.fanout_workers_dlq.arn
    maxReceiveCount     = var.fanout_workers_max_receive
  })
  tags = var.tags
}

data "aws_iam_policy_document" "fanout_workers_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# The worker reads the queue (never sends to it), uses the store's tables,
# and posts to the @connections API.
data "aws_iam_policy_document" "fanout_workers" {
  statement {
    sid       = "ReadRanges"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.fanout_workers_queue.arn]
  }
  statement {
    sid       = "ManageConnections"
    actions   = ["execute-api:ManageConnections"]
    resources = ["${var.fanout_workers_connections_arn}/POST/@connections/*", "${var.fanout_workers_connections_arn}/DELETE/@connections/*"]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "fanout_workers" {
  name               = "${var.table_prefix}fanout-workers"
  assume_role_policy = data.aws_iam_policy_document.fanout_workers_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "fanout_workers" {
  name   = "fanout-workers"
  role   = aws_iam_role.fanout_workers.id
  policy = data.aws_iam_policy_document.fanout_workers.json
}

resource "aws_iam_role_policy" "fanout_workers_store" {
  name   = "store"
  role   = aws_iam_role.fanout_workers.id
  policy = data.aws_iam_policy_document.store.json
}

resource "aws_lambda_function" "fanout_workers" {
  function_name    = "${var.table_prefix}fanout-workers"
  role             = aws_iam_role.fanout_workers.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = var.fanout_workers_zip
  source_code_hash = filebase64sha256(var.fanout_workers_zip)
  memory_size      = 512
  timeout          = var.fanout_workers_timeout
  environment {
    variables = {
      GQLAMBDA_HANDLER             = "ranges"
      GQLAMBDA_CONNECTIONS_TABLE   = aws_dynamodb_table.connections.name
      GQLAMBDA_SUBSCRIPTIONS_TABLE = aws_dynamodb_table.subscriptions.name
      GQLAMBDA_EVENTS_TABLE        = aws_dynamodb_table.events.name
      GQLAMBDA_RANGES_QUEUE_URL    = aws_sqs_queue.fanout_workers_queue.url
      GQLAMBDA_RANGES_MAX_WORKERS  = tostring(var.fanout_workers_max_concurrency)
      GQLAMBDA_RANGES_MAX_RECEIVE  = tostring(var.fanout_workers_max_receive)
      GQLAMBDA_POSTS_PER_SECOND    = tostring(var.fanout_workers_posts_per_second)
    }
  }
  tags = var.tags
}

# One range per invocation; failed ranges are reported one by one (batch
# item failures) and received again alone; at most
# fanout_workers_max_concurrency invocations at once.
resource "aws_lambda_event_source_mapping" "fanout_workers" {
  event_source_arn        = aws_sqs_queue.fanout_workers_queue.arn
  function_name           = aws_lambda_function.fanout_workers.arn
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.fanout_workers_max_concurrency
  }
}

# For the roles of the functions that publish: sending ranges, nothing else.
data "aws_iam_policy_document" "fanout_workers_send" {
  statement {
    sid       = "SendRanges"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.fanout_workers_queue.arn]
  }
}

output "fanout_workers_queue_url" {
  description = "GQLAMBDA_RANGES_QUEUE_URL of the functions that publish."
  value       = aws_sqs_queue.fanout_workers_queue.url
}

output "fanout_workers_dlq_url" {
  description = "Ranges that failed every receive; replay them with gqlambda sqs redrive."
  value       = aws_sqs_queue.fanout_workers_dlq.url
}

output "fanout_workers_send_policy_json" {
  description = "IAM policy (JSON) for the roles of the functions that publish: sqs:SendMessage on the ranges queue."
  value       = data.aws_iam_policy_document.fanout_workers_send.json
}
