output "log_group_names" {
  description = "Log group names by component: api, sfu, turn, ops."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "log_group_arns" {
  description = "Log group ARNs by component."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "alarm_topic_arn" {
  description = "The SNS topic alarms notify."
  value       = aws_sns_topic.alarms.arn
}
