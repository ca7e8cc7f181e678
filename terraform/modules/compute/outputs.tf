output "repository_url" {
  description = "Push Accord images here."
  value       = aws_ecr_repository.accord.repository_url
}

output "repository_arn" {
  description = "The image repository (the SFU nodes pull from it)."
  value       = aws_ecr_repository.accord.arn
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "The API service."
  value       = aws_ecs_service.api.name
}

output "migrate_task_definition" {
  description = "Run this task (family:revision) before rolling a release: it applies pending migrations."
  value       = aws_ecs_task_definition.migrate.arn
}

output "api_security_group_id" {
  description = "The API tasks' security group (Postgres and Redis admit it)."
  value       = aws_security_group.api.id
}

output "alb_security_group_id" {
  description = "The load balancer's security group (the SFU nodes admit it on 8080)."
  value       = aws_security_group.alb.id
}

output "https_listener_arn" {
  description = "The HTTPS listener (the media module adds the /sfu/* rule)."
  value       = aws_lb_listener.https.arn
}

output "alb_dns_name" {
  description = "Point the public host name here (CNAME or alias)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "For a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "alb_arn_suffix" {
  description = "For alarms."
  value       = aws_lb.this.arn_suffix
}

output "api_target_group_arn_suffix" {
  description = "For alarms."
  value       = aws_lb_target_group.api.arn_suffix
}
