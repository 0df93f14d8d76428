# gqlambda's CloudWatch dashboard and alarms, for stacks deployed with
# Terraform; template.yaml has the same for the SAM stack, and
# deploy/iactest/observability_test.go checks that the two agree and that
# every metric they use is one the library writes.
#
# The functions must write the library's CloudWatch Embedded Metric Format
# lines (gqlambda.Config.Telemetry.Metrics = os.Stdout) with Service set to
# var.observability_service (Telemetry.Service, or the environment variable
# GQLAMBDA_METRICS_SERVICE as the chat example reads it). docs/operations.md
# says what each metric means and what to do when an alarm fires.

variable "observability_service" {
  description = "The Service dimension of the functions' gqlambda metrics (gqlambda.Telemetry.Service)."
  type        = string
  default     = "gqlambda"
}

variable "observability_namespace" {
  description = "The CloudWatch namespace of the gqlambda metrics (gqlambda.Telemetry.Namespace)."
  type        = string
  default     = "gqlambda"
}

variable "observability_function_names" {
  description = "Names of the Lambda functions running gqlambda handlers, for the Lambda errors alarm and the dashboard. Empty: no Lambda errors alarm."
  type        = list(string)
  default     = []
}

variable "observability_alarm_actions" {
  description = "ARNs notified when an alarm fires and when it recovers. Empty: a new SNS topic, observability_alarms."
  type        = list(string)
  default     = []
}

variable "observability_throttled_per_minute" {
  description = "Throttled @connections attempts a minute, in 3 of 5 minutes, that fire the throttling alarm."
  type        = number
  default     = 1000
}

locals {
  # The given ARNs, or the topic made when none is given.
  observability_actions = concat(var.observability_alarm_actions, aws_sns_topic.observability_alarms[*].arn)
  observability_dims    = { Service = var.observability_service }
}

resource "aws_sns_topic" "observability_alarms" {
  count        = length(var.observability_alarm_actions) > 0 ? 0 : 1
  name_prefix  = "gqlambda-alarms-"
  display_name = "gqlambda alarms"
}

# API Gateway's account throttle answers posts 429 faster than the retries
# absorb: fan-outs slow down, and the account's other APIs are throttled too.
resource "aws_cloudwatch_metric_alarm" "observability_throttling" {
  alarm_name          = "${var.observability_service}-gqlambda-throttling"
  alarm_description   = "@connections posts are throttled (429) persistently. See docs/operations.md, Throttling."
  namespace           = var.observability_namespace
  metric_name         = "Throttled"
  dimensions          = local.observability_dims
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.observability_throttled_per_minute
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.observability_actions
  ok_actions          = local.observability_actions
}

# A subscriber did not get an event: its execution failed, or its post failed
# after every retry.
resource "aws_cloudwatch_metric_alarm" "observability_failed_deliveries" {
  alarm_name          = "${var.observability_service}-gqlambda-failed-deliveries"
  alarm_description   = "Fan-outs failed to deliver events to subscribers. See docs/operations.md, Failed deliveries."
  namespace           = var.observability_namespace
  metric_name         = "Failed"
  dimensions          = local.observability_dims
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.observability_actions
  ok_actions          = local.observability_actions
}

# An invocation of one of the functions failed, over all of them.
resource "aws_cloudwatch_metric_alarm" "observability_lambda_errors" {
  count               = length(var.observability_function_names) > 0 ? 1 : 0
  alarm_name          = "${var.observability_service}-gqlambda-lambda-errors"
  alarm_description   = "Invocations of the gqlambda functions failed. See docs/operations.md, Lambda errors."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.observability_actions
  ok_actions          = local.observability_actions

  metric_query {
    id          = "errors"
    label       = "Errors of the gqlambda functions"
    expression  = join(" + ", [for i, _ in var.observability_function_names : "f${i}"])
    return_data = true
  }

  dynamic "metric_query" {
    for_each = var.observability_function_names
    content {
      id          = "f${metric_query.key}"
      return_data = false
      metric {
        namespace   = "AWS/Lambda"
        metric_name = "Errors"
        dimensions  = { FunctionName = metric_query.value }
        period      = 300
        stat        = "Sum"
      }
    }
  }
}

resource "aws_cloudwatch_dashboard" "observability" {
  dashboard_name = "${var.observability_service}-gqlambda"
  dashboard_body = jsonencode({
    widgets = concat([
      {
        type = "alarm", x = 0, y = 0, width = 24, height = 2
        properties = {
          title = "Alarms"
          alarms = concat([aws_cloudwatch_metric_alarm.observability_throttling.arn, aws_cloudwatch_metric_alarm.observability_failed_deliveries.arn],
          aws_cloudwatch_metric_alarm.observability_lambda_errors[*].arn)
        }
      },
      {
        type = "metric", x = 0, y = 2, width = 12, height = 6
        properties = {
          title   = "Fan-out: deliveries, gone, failed", region = data.aws_region.observability.name, view = "timeSeries", stat = "Sum", period = 60
          metrics = [for m in ["Deliveries", "Gone", "Failed", "FanOuts"] : [var.observability_namespace, m, "Service", var.observability_service]]
        }
      },
      {
        type = "metric", x = 12, y = 2, width = 12, height = 6
        properties = {
          title   = "@connections: throttled attempts and retries", region = data.aws_region.observability.name, view = "timeSeries", stat = "Sum", period = 60
          metrics = [for m in ["Throttled", "Retries"] : [var.observability_namespace, m, "Service", var.observability_service]]
        }
      },
      {
        type = "metric", x = 0, y = 8, width = 12, height = 6
        properties = {
          title   = "Post latency (ms)", region = data.aws_region.observability.name, view = "timeSeries", period = 60
          metrics = [for s in ["p50", "p90", "p99"] : [var.observability_namespace, "PostLatency", "Service", var.observability_service, { stat = s }]]
        }
      },
      {
        type = "metric", x = 12, y = 8, width = 12, height = 6
        properties = {
          title   = "Fan-out duration (ms)", region = data.aws_region.observability.name, view = "timeSeries", period = 60
          metrics = [for s in ["p50", "p99", "Maximum"] : [var.observability_namespace, "FanOutDuration", "Service", var.observability_service, { stat = s }]]
        }
      },
      {
        type = "metric", x = 0, y = 14, width = 12, height = 6
        properties = {
          title = "Connections and subscriptions", region = data.aws_region.observability.name, view = "timeSeries", stat = "Sum", period = 60
          metrics = [for m in ["Connections", "Disconnections", "SubscriptionsStarted", "SubscriptionsEnded", "Frames", "Errors"] :
          [var.observability_namespace, m, "Service", var.observability_service]]
        }
      }],
      length(var.observability_function_names) == 0 ? [] : [{
        type = "metric", x = 12, y = 14, width = 12, height = 6
        properties = {
          title = "Lambda errors and throttles", region = data.aws_region.observability.name, view = "timeSeries", stat = "Sum", period = 60
          metrics = concat([for f in var.observability_function_names : ["AWS/Lambda", "Errors", "FunctionName", f]],
          [for f in var.observability_function_names : ["AWS/Lambda", "Throttles", "FunctionName", f]])
        }
    }])
  })
}

data "aws_region" "observability" {}

output "observability_dashboard_name" {
  description = "The CloudWatch dashboard of the gqlambda metrics."
  value       = aws_cloudwatch_dashboard.observability.dashboard_name
}

output "observability_alarm_topic_arn" {
  description = "The SNS topic the alarms notify, when this file made one."
  value       = one(aws_sns_topic.observability_alarms[*].arn)
}
