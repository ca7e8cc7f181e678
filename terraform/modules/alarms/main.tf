# CloudWatch alarms on what tells an operator Accord is failing people:
# errors at the load balancer, unhealthy API tasks or SFU nodes, slow
# answers, a saturated database or cache, missing SFU nodes, and error
# lines in the API's and SFU's logs. Each notifies the alarm topic, and
# again when it clears.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

locals {
  actions = [var.alarm_topic_arn]
  alarms = {
    "api-5xx" = {
      namespace = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", stat = "Sum", op = "GreaterThanThreshold", threshold = 5, periods = 1
      dims      = { LoadBalancer = var.alb_arn_suffix }, missing = "notBreaching"
      what      = "The API answered more than 5 requests with a 5xx in 5 minutes (Accord shows users no 500 by design: look at the API log)."
    }
    "api-unhealthy" = {
      namespace = "AWS/ApplicationELB", metric = "UnHealthyHostCount", stat = "Maximum", op = "GreaterThanThreshold", threshold = 0, periods = 2
      dims      = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.api_target_group_arn_suffix }, missing = "notBreaching"
      what      = "An API task fails its /healthz check."
    }
    "api-cpu" = {
      namespace = "AWS/ECS", metric = "CPUUtilization", stat = "Average", op = "GreaterThanThreshold", threshold = 85, periods = 3
      dims      = { ClusterName = var.cluster_name, ServiceName = var.service_name }, missing = "notBreaching"
      what      = "API tasks above 85 % CPU for 15 minutes (at their maximum count?)."
    }
    "api-memory" = {
      namespace = "AWS/ECS", metric = "MemoryUtilization", stat = "Average", op = "GreaterThanThreshold", threshold = 85, periods = 3
      dims      = { ClusterName = var.cluster_name, ServiceName = var.service_name }, missing = "notBreaching"
      what      = "API tasks above 85 % memory for 15 minutes."
    }
    "db-cpu" = {
      namespace = "AWS/RDS", metric = "CPUUtilization", stat = "Average", op = "GreaterThanThreshold", threshold = 80, periods = 3
      dims      = { DBInstanceIdentifier = var.db_instance_id }, missing = "notBreaching"
      what      = "Postgres above 80 % CPU for 15 minutes."
    }
    "db-storage" = {
      namespace = "AWS/RDS", metric = "FreeStorageSpace", stat = "Minimum", op = "LessThanThreshold", threshold = var.db_min_free_storage_bytes, periods = 1
      dims      = { DBInstanceIdentifier = var.db_instance_id }, missing = "breaching"
      what      = "Postgres is running out of storage (autoscaling may be at its ceiling)."
    }
    "db-memory" = {
      namespace = "AWS/RDS", metric = "FreeableMemory", stat = "Minimum", op = "LessThanThreshold", threshold = 268435456, periods = 3
      dims      = { DBInstanceIdentifier = var.db_instance_id }, missing = "notBreaching"
      what      = "Postgres has less than 256 MiB freeable memory."
    }
    "redis-cpu" = {
      namespace = "AWS/ElastiCache", metric = "EngineCPUUtilization", stat = "Average", op = "GreaterThanThreshold", threshold = 80, periods = 3
      dims      = { ReplicationGroupId = var.redis_replication_group_id }, missing = "notBreaching"
      what      = "Redis's engine thread above 80 % CPU."
    }
    "redis-memory" = {
      namespace = "AWS/ElastiCache", metric = "DatabaseMemoryUsagePercentage", stat = "Maximum", op = "GreaterThanThreshold", threshold = 80, periods = 3
      dims      = { ReplicationGroupId = var.redis_replication_group_id }, missing = "notBreaching"
      what      = "Redis above 80 % of its memory."
    }
  }
}

locals {
  # Per SFU node (each its own target group and group of one).
  sfu_alarms = merge([
    for i, tg in var.sfu_target_group_arn_suffixes : {
      "sfu${i}-unhealthy" = {
        namespace = "AWS/ApplicationELB", metric = "UnHealthyHostCount", stat = "Maximum", op = "GreaterThanThreshold", threshold = 0, periods = 2
        dims      = { LoadBalancer = var.alb_arn_suffix, TargetGroup = tg }, missing = "notBreaching"
        what      = "SFU node ${i} fails its /healthz check: its live sessions move to other nodes as their participants reconnect."
      }
      "sfu${i}-missing" = {
        namespace = "AWS/AutoScaling", metric = "GroupInServiceInstances", stat = "Minimum", op = "LessThanThreshold", threshold = 1, periods = 3
        dims      = { AutoScalingGroupName = var.sfu_autoscaling_group_names[i] }, missing = "breaching"
        what      = "SFU node ${i} is not in service (its group of one has not replaced it)."
      }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = merge(local.alarms, local.sfu_alarms)
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.what
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.stat
  comparison_operator = each.value.op
  threshold           = each.value.threshold
  evaluation_periods  = each.value.periods
  period              = 300
  dimensions          = each.value.dims
  treat_missing_data  = each.value.missing
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# p95 of the API's answer time at the load balancer.
resource "aws_cloudwatch_metric_alarm" "api_latency" {
  alarm_name          = "${var.name}-api-latency-p95"
  alarm_description   = "The API's 95th percentile answer time above ${var.api_p95_seconds} s for 15 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_p95_seconds
  evaluation_periods  = 3
  period              = 300
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.api_target_group_arn_suffix }
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Error lines in the JSON logs (tracing's `level` field).
resource "aws_cloudwatch_log_metric_filter" "errors" {
  for_each       = var.error_log_groups
  name           = "${var.name}-${each.key}-errors"
  log_group_name = each.value
  pattern        = "{ $.level = \"ERROR\" }"
  metric_transformation {
    name          = "${each.key}-error-lines"
    namespace     = "Accord/${var.name}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each            = var.error_log_groups
  alarm_name          = "${var.name}-${each.key}-error-lines"
  alarm_description   = "More than ${var.error_lines_per_5m} ERROR lines in the ${each.key} log in 5 minutes."
  namespace           = "Accord/${var.name}"
  metric_name         = "${each.key}-error-lines"
  statistic           = "Sum"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.error_lines_per_5m
  evaluation_periods  = 1
  period              = 300
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  depends_on          = [aws_cloudwatch_log_metric_filter.errors]
}
