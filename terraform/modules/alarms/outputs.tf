output "alarm_names" {
  description = "Every alarm this module made."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.this : a.alarm_name],
    [aws_cloudwatch_metric_alarm.api_latency.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.errors : a.alarm_name],
  )
}
