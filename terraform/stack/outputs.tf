output "repository_url" {
  description = "Push images here; set image to <repository_url>:<tag>."
  value       = module.compute.repository_url
}

output "alb_dns_name" {
  description = "Point the public host name at this (CNAME, or a Route 53 alias with alb_zone_id)."
  value       = module.compute.alb_dns_name
}

output "alb_zone_id" {
  description = "The load balancer's hosted zone, for an alias record."
  value       = module.compute.alb_zone_id
}

output "turn_urls" {
  description = "The TURN URLs the SFU nodes hand to clients."
  value       = module.turn.urls
}

output "ecs_cluster" {
  description = "ECS cluster of the API."
  value       = module.compute.cluster_name
}

output "api_service" {
  description = "ECS service of the API."
  value       = module.compute.service_name
}

output "migrate_task_definition" {
  description = "Run once per release before rolling the API (docs/OPERATIONS.md)."
  value       = module.compute.migrate_task_definition
}

output "app_subnet_ids" {
  description = "Subnets to run the migration task in."
  value       = module.network.app_subnet_ids
}

output "api_security_group_id" {
  description = "Security group to run the migration task with."
  value       = module.compute.api_security_group_id
}

output "sfu_autoscaling_group" {
  description = "Each SFU node's group of one, by node index (start an instance refresh on one at a time to roll them)."
  value       = module.media.autoscaling_group_names
}

output "sfu_signaling_hosts" {
  description = "Each SFU node's signaling host name, by node index."
  value       = module.media.signaling_hosts
}

output "database_address" {
  description = "Postgres host."
  value       = module.database.address
}

output "redis_primary_endpoint" {
  description = "Redis primary (rediss://, AUTH token in Secrets Manager)."
  value       = module.cache.primary_endpoint
}

output "vault_bucket" {
  description = "The document vault's bucket."
  value       = module.storage.vault_bucket
}

output "vault_key_arn" {
  description = "The document vault's KMS key."
  value       = module.keys.vault_key_arn
}

output "secret_arns" {
  description = "Secrets Manager ARNs by name."
  value = merge(module.secrets.arns, {
    "database-url"       = module.database.url_secret_arn
    "database-admin-url" = module.database.admin_url_secret_arn
    "ses-smtp"           = module.email.smtp_secret_arn
  })
}

output "mail_dns_records" {
  description = "DKIM and MAIL FROM records for mail_domain."
  value       = module.email.dns_records
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms (subscribe a pager to it)."
  value       = module.logs.alarm_topic_arn
}
