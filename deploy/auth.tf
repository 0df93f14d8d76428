# The chat's token authorizer for API Gateway, for stacks that bring their
# own APIs (as dynamodb.tf does for the tables): the signing secret, the
# authorizer function (examples/chat/authorizer) with a role of its own, and
# a Lambda REQUEST authorizer on the WebSocket API (for its $connect route)
# and, when auth_http_api_id is set, on the HTTP API. deploy/template.yaml
# (SAM) wires the same pieces into the whole chat; docs/security.md
# ("Authentication") explains the choices.
#
# It is off (nothing is created) until auth_websocket_api_id is set, so
# that applying this folder for the tables alone still works. Build the
# function first, from the repository root:
#
#   GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./examples/chat/authorizer
#   zip deploy/authorizer.zip bootstrap
#
# Then use the outputs in your API's resources:
#
#   resource "aws_apigatewayv2_route" "connect" {
#     route_key          = "$connect"
#     authorization_type = "CUSTOM"
#     authorizer_id      = aws_apigatewayv2_authorizer.auth_websocket[0].id
#     ...
#   }
#   resource "aws_apigatewayv2_stage" "ws" {
#     default_route_settings {
#       throttling_burst_limit = var.auth_websocket_throttling_burst_limit
#       throttling_rate_limit  = var.auth_websocket_throttling_rate_limit
#     }
#   }
#
# and the same with aws_apigatewayv2_authorizer.auth_http[0].id ("CUSTOM") on
# each route of the HTTP API, and the auth_http_* limits on its stage. From
# another module, use the outputs auth_websocket_authorizer_id and
# auth_http_authorizer_id.

variable "auth_name_prefix" {
  description = "Prefix of the names of the secret, the function and its role."
  type        = string
  default     = "gqlambda-"
}

variable "auth_websocket_api_id" {
  description = "ID of the WebSocket API whose $connect route the authorizer guards; empty: no authorizer at all."
  type        = string
  default     = ""
}

variable "auth_http_api_id" {
  description = "ID of the HTTP API the authorizer guards; empty: none."
  type        = string
  default     = ""
}

variable "auth_authorizer_zip" {
  description = "Zip of the authorizer built for linux/arm64 as bootstrap (see the top of this file)."
  type        = string
  default     = "authorizer.zip"
}

variable "auth_http_result_ttl_seconds" {
  description = "How long the HTTP API caches an allowed token's answer (0 to 3600). A revoked token works that much longer."
  type        = number
  default     = 60
}

# Throttling of each API's stage (every route), on top of the account's
# limits: set them in your stages' default_route_settings.
variable "auth_websocket_throttling_burst_limit" {
  description = "Burst of the WebSocket stage's routes ($connect, every frame), in requests."
  type        = number
  default     = 200
}

variable "auth_websocket_throttling_rate_limit" {
  description = "Steady rate of the WebSocket stage's routes, in requests per second."
  type        = number
  default     = 100
}

variable "auth_http_throttling_burst_limit" {
  description = "Burst of the HTTP API's routes, in requests."
  type        = number
  default     = 100
}

variable "auth_http_throttling_rate_limit" {
  description = "Steady rate of the HTTP API's routes, in requests per second."
  type        = number
  default     = 50
}

locals {
  auth_enabled = var.auth_websocket_api_id != ""
  auth_count   = local.auth_enabled ? 1 : 0
  auth_http    = local.auth_enabled && var.auth_http_api_id != "" ? 1 : 0
}

# The HS256 signing secret: generated once (later plans keep it), read by the
# authorizer and by whoever issues tokens. Rotate it by putting a new value;
# the authorizer reads it again within 5 minutes.
resource "aws_secretsmanager_secret" "auth_token" {
  count       = local.auth_count
  name_prefix = "${var.auth_name_prefix}chat-token-"
  description = "HS256 signing secret of the chat's tokens"
}

data "aws_secretsmanager_random_password" "auth_token" {
  count               = local.auth_count
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  count         = local.auth_count
  secret_id     = aws_secretsmanager_secret.auth_token[0].id
  secret_string = data.aws_secretsmanager_random_password.auth_token[0].random_password
  lifecycle {
    ignore_changes = [secret_string]
  }
}

data "aws_iam_policy_document" "auth_assume" {
  count = local.auth_count
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# The authorizer's own role: logs and that one secret, no table.
data "aws_iam_policy_document" "auth_authorizer" {
  count = local.auth_count
  statement {
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.auth_token[0].arn]
  }
}

resource "aws_iam_role" "auth_authorizer" {
  count              = local.auth_count
  name_prefix        = "${var.auth_name_prefix}authorizer-"
  assume_role_policy = data.aws_iam_policy_document.auth_assume[0].json
}

resource "aws_iam_role_policy" "auth_authorizer" {
  count  = local.auth_count
  role   = aws_iam_role.auth_authorizer[0].id
  policy = data.aws_iam_policy_document.auth_authorizer[0].json
}

resource "aws_iam_role_policy_attachment" "auth_logs" {
  count      = local.auth_count
  role       = aws_iam_role.auth_authorizer[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_lambda_function" "auth_authorizer" {
  count            = local.auth_count
  function_name    = "${var.auth_name_prefix}chat-authorizer"
  description      = "gqlambda chat token authorizer ($connect and the HTTP API)."
  filename         = var.auth_authorizer_zip
  source_code_hash = filebase64sha256(var.auth_authorizer_zip)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  memory_size      = 128
  timeout          = 10
  role             = aws_iam_role.auth_authorizer[0].arn
  environment {
    variables = {
      CHAT_AUTH_SECRET_ARN = aws_secretsmanager_secret.auth_token[0].arn
    }
  }
}

data "aws_apigatewayv2_api" "auth_websocket" {
  count  = local.auth_count
  api_id = var.auth_websocket_api_id
}

# Browsers cannot set headers on a WebSocket: the token is in the URL. A
# handshake without it is refused with 401 before the function runs.
resource "aws_apigatewayv2_authorizer" "auth_websocket" {
  count            = local.auth_count
  api_id           = var.auth_websocket_api_id
  name             = "token"
  authorizer_type  = "REQUEST"
  authorizer_uri   = aws_lambda_function.auth_authorizer[0].invoke_arn
  identity_sources = ["route.request.querystring.token"]
}

resource "aws_lambda_permission" "auth_websocket" {
  count         = local.auth_count
  statement_id  = "AllowWebSocketAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.auth_authorizer[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${data.aws_apigatewayv2_api.auth_websocket[0].execution_arn}/authorizers/${aws_apigatewayv2_authorizer.auth_websocket[0].id}"
}

data "aws_apigatewayv2_api" "auth_http" {
  count  = local.auth_http
  api_id = var.auth_http_api_id
}

# Payload format 1.0: the same request and IAM policy answer as on
# $connect, so one function serves both APIs.
resource "aws_apigatewayv2_authorizer" "auth_http" {
  count                             = local.auth_http
  api_id                            = var.auth_http_api_id
  name                              = "token"
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = aws_lambda_function.auth_authorizer[0].invoke_arn
  authorizer_payload_format_version = "1.0"
  enable_simple_responses           = false
  identity_sources                  = ["$request.header.Authorization"]
  authorizer_result_ttl_in_seconds  = var.auth_http_result_ttl_seconds
}

resource "aws_lambda_permission" "auth_http" {
  count         = local.auth_http
  statement_id  = "AllowHttpAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.auth_authorizer[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${data.aws_apigatewayv2_api.auth_http[0].execution_arn}/authorizers/${aws_apigatewayv2_authorizer.auth_http[0].id}"
}

output "auth_websocket_authorizer_id" {
  description = "Authorizer of the WebSocket API's $connect route (authorization_type CUSTOM)."
  value       = one(aws_apigatewayv2_authorizer.auth_websocket[*].id)
}

output "auth_http_authorizer_id" {
  description = "Authorizer of the HTTP API's routes (authorization_type CUSTOM); null without auth_http_api_id."
  value       = one(aws_apigatewayv2_authorizer.auth_http[*].id)
}

output "auth_secret_arn" {
  description = "The signing secret: go run ./examples/chat/authorizer -sub ID -name NAME -secret-id ARN issues a token."
  value       = one(aws_secretsmanager_secret.auth_token[*].arn)
}
