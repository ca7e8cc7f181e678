# The API on ECS Fargate in the private app subnets, behind an Application
# Load Balancer that terminates TLS (ACM certificate) and is screened by AWS
# WAF. The load balancer also sends the SFU's signaling WebSocket (/sfu/*) to
# the media nodes (modules/media). One image repository serves both.
# A second task definition runs `accord migrate` as the schema owner, once
# per release, before the service rolls (docs/OPERATIONS.md).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region = data.aws_region.current.name
  # What every API container is told; secrets come from Secrets Manager.
  api_environment = [
    { name = "ACCORD__HTTP__LISTEN", value = "0.0.0.0:8080" },
    { name = "ACCORD__HTTP__PUBLIC_URL", value = var.public_url },
    { name = "ACCORD__RATE_LIMIT__TRUSTED_PROXY_HOPS", value = "1" },
    { name = "ACCORD__LOG__JSON", value = "true" },
    { name = "ACCORD__LOG__FILTER", value = var.log_filter },
    { name = "ACCORD__MAIL__TRANSPORT", value = "smtp" },
    { name = "ACCORD__MAIL__FROM", value = var.mail_from },
    { name = "ACCORD__MAIL__SMTP__HOST", value = "email-smtp.${local.region}.amazonaws.com" },
    { name = "ACCORD__MAIL__SMTP__PORT", value = "587" },
    { name = "ACCORD__MAIL__SMTP__SECURITY", value = "starttls" },
    { name = "ACCORD__OUTBOX__DIR", value = "/var/lib/accord/outbox" },
    # The documents vault: data keys from the vault KMS key, ciphertext in
    # the vault bucket (a task's own disk would lose both).
    { name = "ACCORD__VAULT__KEYS", value = "kms" },
    { name = "ACCORD__VAULT__KMS_KEY_ID", value = var.vault_key_arn },
    { name = "ACCORD__VAULT__STORE", value = "s3" },
    { name = "ACCORD__VAULT__S3_BUCKET", value = split(":", var.vault_bucket_arn)[5] },
  ]
  api_secrets = [
    { name = "ACCORD__DATABASE__URL", valueFrom = var.database_url_secret_arn },
    { name = "ACCORD_JOIN_KEYS_TOML", valueFrom = var.join_keys_secret_arn },
    # Sessions are placed on the SFU nodes registered in Redis.
    { name = "ACCORD__REDIS__URL", valueFrom = var.redis_url_secret_arn },
    { name = "ACCORD__MAIL__SMTP__USERNAME", valueFrom = "${var.smtp_secret_arn}:username::" },
    { name = "ACCORD__MAIL__SMTP__PASSWORD", valueFrom = "${var.smtp_secret_arn}:password::" },
  ]
  # The root file system is read-only; these are the task's own scratch volumes.
  scratch_mounts = [
    { sourceVolume = "state", containerPath = "/var/lib/accord", readOnly = false },
    { sourceVolume = "run", containerPath = "/run/accord", readOnly = false },
  ]
  hardening = {
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    privileged             = false
    linuxParameters = {
      capabilities       = { drop = ["ALL"] }
      initProcessEnabled = true
    }
  }
}

# ---- Image repository ----

resource "aws_ecr_repository" "accord" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "accord" {
  repository = aws_ecr_repository.accord.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last 50 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
      action       = { type = "expire" }
    }]
  })
}

# ---- Cluster ----

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# ---- Security groups ----

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "The load balancer: HTTPS from anywhere, HTTP only to redirect"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (aws_lb_listener.http); nothing is served over it.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, redirected to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_targets" {
  security_group_id = aws_security_group.alb.id
  description       = "To the API tasks and SFU nodes (HTTP inside the VPC)"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 8080
  to_port           = 8080
}

resource "aws_security_group" "api" {
  name_prefix = "${var.name}-api-"
  description = "API tasks: HTTP from the load balancer only"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "HTTP from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_egress_rule" "api" {
  for_each = {
    https    = { cidr = "0.0.0.0/0", port = 443, what = "AWS APIs (Secrets Manager, KMS, S3, ECR, logs) and the OIDC provider" }
    smtp     = { cidr = "0.0.0.0/0", port = 587, what = "SES SMTP (STARTTLS)" }
    postgres = { cidr = var.vpc_cidr_block, port = 5432, what = "Postgres in the data subnets" }
    redis    = { cidr = var.vpc_cidr_block, port = 6379, what = "Redis in the data subnets" }
  }
  security_group_id = aws_security_group.api.id
  description       = each.value.what
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

# ---- Load balancer ----

resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # Signaling WebSockets stay open for a whole session; the SFU pings well
  # inside this.
  idle_timeout = 300
  access_logs {
    bucket  = var.access_logs_bucket
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the task stays inside the VPC's private subnets and Accord serves plain HTTP behind a proxy.
  name_prefix          = "api-"
  port                 = 8080
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

# Metrics are for the VPC's scrapers, never the internet.
resource "aws_lb_listener_rule" "no_public_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 1
  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }
  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }
}

# ---- WAF ----

resource "aws_wafv2_web_acl" "this" {
  name  = var.name
  scope = "REGIONAL"
  default_action {
    allow {}
  }
  rule {
    name     = "aws-common"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
        # Document uploads are larger than the rule set's 8 KB body limit.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "aws-known-bad-inputs"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }
  # Anonymous addresses (VPNs, Tor, hosting providers) are only counted:
  # parties to a mediation may well hide where they are, and must still
  # reach it. The counts show in the WAF metrics and logs.
  rule {
    name     = "aws-anonymous-ip"
    priority = 40
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"
        rule_action_override {
          name = "AnonymousIPList"
          action_to_use {
            count {}
          }
        }
        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-anonymous-ip"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "aws-ip-reputation"
    priority = 30
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-ip-reputation"
      sampled_requests_enabled   = true
    }
  }
  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  # WAF requires this prefix.
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]
  # Cookies and the CSRF header are credentials.
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  redacted_fields {
    single_header {
      name = "x-csrf-token"
    }
  }
}

# ---- IAM ----

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# The execution role starts containers: pull the image, read exactly the
# secrets the task definitions name, write their logs.
resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this action has no resource-level permissions
  }
  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.accord.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in [var.api_log_group_arn, var.ops_log_group_arn] : "${g}:*"]
  }
  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.database_url_secret_arn, var.database_admin_url_secret_arn, var.join_keys_secret_arn, var.smtp_secret_arn, var.redis_url_secret_arn]
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com", "ecr.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-accord-tasks"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The API's own role: the document vault's bucket and key, nothing else.
resource "aws_iam_role" "api" {
  name_prefix        = "${var.name}-api-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "VaultObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.vault_bucket_arn}/*"]
  }
  statement {
    sid       = "VaultList"
    actions   = ["s3:ListBucket"]
    resources = [var.vault_bucket_arn]
  }
  statement {
    sid       = "VaultBucketEncryption"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "VaultDataKeys"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.vault_key_arn]
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "accord-api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

# ---- Task definitions and the service ----

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.api.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
  volume {
    name = "state"
  }
  volume {
    name = "run"
  }
  container_definitions = jsonencode([merge(local.hardening, {
    name         = "accord"
    image        = var.image
    essential    = true
    command      = ["serve", "--only", "api"]
    portMappings = [{ containerPort = 8080, protocol = "tcp" }]
    environment  = local.api_environment
    secrets      = local.api_secrets
    mountPoints  = local.scratch_mounts
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.api_log_group_name
        awslogs-region        = local.region
        awslogs-stream-prefix = "api"
      }
    }
  })])
}

resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
  volume {
    name = "state"
  }
  volume {
    name = "run"
  }
  container_definitions = jsonencode([merge(local.hardening, {
    name        = "migrate"
    image       = var.image
    essential   = true
    command     = ["migrate"]
    environment = [{ name = "ACCORD__LOG__JSON", value = "true" }]
    secrets = [
      { name = "ACCORD__DATABASE__ADMIN_URL", valueFrom = var.database_admin_url_secret_arn },
      { name = "ACCORD__DATABASE__URL", valueFrom = var.database_url_secret_arn },
    ]
    mountPoints = local.scratch_mounts
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.ops_log_group_name
        awslogs-region        = local.region
        awslogs-stream-prefix = "migrate"
      }
    }
  })])
}

resource "aws_ecs_service" "api" {
  name                               = "api"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.api.arn
  desired_count                      = var.api_desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = var.app_subnet_ids
    security_groups  = [aws_security_group.api.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "accord"
    container_port   = 8080
  }
  depends_on = [aws_lb_listener.https]
}

resource "aws_appautoscaling_target" "api" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.api.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_desired_count
  max_capacity       = var.api_max_count
}

resource "aws_appautoscaling_policy" "api_cpu" {
  name               = "${var.name}-api-cpu"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension
  policy_type        = "TargetTrackingScaling"
  target_tracking_scaling_policy_configuration {
    target_value = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
