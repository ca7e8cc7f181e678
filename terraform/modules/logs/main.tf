# CloudWatch log groups for every component (encrypted, with retention) and
# the SNS topic alarms notify. Accord logs identifiers only, never case
# content (docs/SECURITY.md), so these groups hold no mediation text.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = toset(["api", "sfu", "turn", "ops"])
  name              = "/accord/${var.name}/${each.key}"
  retention_in_days = var.retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}
