output "accord" {
  description = "Everything an operator needs after an apply (see terraform/README.md)."
  value = {
    repository_url          = module.accord.repository_url
    alb_dns_name            = module.accord.alb_dns_name
    alb_zone_id             = module.accord.alb_zone_id
    turn_urls               = module.accord.turn_urls
    ecs_cluster             = module.accord.ecs_cluster
    api_service             = module.accord.api_service
    migrate_task_definition = module.accord.migrate_task_definition
    app_subnet_ids          = module.accord.app_subnet_ids
    api_security_group_id   = module.accord.api_security_group_id
    sfu_autoscaling_group   = module.accord.sfu_autoscaling_group
    sfu_signaling_hosts     = module.accord.sfu_signaling_hosts
    database_address        = module.accord.database_address
    redis_primary_endpoint  = module.accord.redis_primary_endpoint
    vault_bucket            = module.accord.vault_bucket
    vault_key_arn           = module.accord.vault_key_arn
    secret_arns             = module.accord.secret_arns
    mail_dns_records        = module.accord.mail_dns_records
    alarm_topic_arn         = module.accord.alarm_topic_arn
  }
}
