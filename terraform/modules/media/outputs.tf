output "security_group_id" {
  description = "The nodes' security group (Postgres and Redis admit it)."
  value       = aws_security_group.sfu.id
}

output "autoscaling_group_names" {
  description = "Each node's auto-scaling group of one, by node index (instance refresh, alarms)."
  value       = { for i, g in aws_autoscaling_group.sfu : i => g.name }
}

output "target_group_arn_suffixes" {
  description = "Each node's target group, by node index (alarms)."
  value       = { for i, t in aws_lb_target_group.sfu : i => t.arn_suffix }
}

output "signaling_hosts" {
  description = "Each node's signaling host name, by node index."
  value       = local.nodes
}
