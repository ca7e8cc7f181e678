# The SFU nodes (`accord serve --only sfu`) on EC2 in the public subnets, in
# an auto-scaling group: each instance has a public address (the SFU is
# ICE-lite, so clients must reach the media port directly), learns it from
# the instance metadata at boot and announces it as `sfu.public_ips`. Media
# uses one UDP and one TCP port; the signaling WebSocket comes through the
# load balancer on port 8080.
#
# Several nodes: a live session lives on one node, placed on the least-loaded
# one through Redis, and its participants must reach that node. So node i has
# its own signaling name, sfu-<i>.<signaling_domain> (a record aliasing the
# load balancer, covered by a certificate for *.<signaling_domain> on its
# HTTPS listener), a listener rule sending that host to node i's target group
# alone, and its own auto-scaling group of one, which replaces the node under
# the same name when it fails. The node announces that name in Redis
# (`sfu.signaling_url`); the API hands it out with the join token.

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

locals {
  region   = data.aws_region.current.name
  registry = split("/", var.image)[0]
  ami_parameter = {
    X86_64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    ARM64  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
  }
}

data "aws_ssm_parameter" "ami" {
  name = local.ami_parameter[var.cpu_architecture]
}

# ---- Network ----

resource "aws_security_group" "sfu" {
  name_prefix = "${var.name}-sfu-"
  description = "SFU nodes: media from anywhere, signaling from the load balancer"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "media" {
  for_each          = toset(["udp", "tcp"])
  security_group_id = aws_security_group.sfu.id
  description       = "Media (${each.key}) from participants"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = each.key
  from_port         = var.media_port
  to_port           = var.media_port
}

resource "aws_vpc_security_group_ingress_rule" "signaling" {
  security_group_id            = aws_security_group.sfu.id
  description                  = "Signaling WebSocket and health checks from the load balancer"
  referenced_security_group_id = var.alb_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_egress_rule" "sfu" {
  for_each = {
    https    = { proto = "tcp", cidr = "0.0.0.0/0", from = 443, to = 443, what = "AWS APIs (ECR, Secrets Manager, logs, SSM) and packages at boot" }
    media    = { proto = "udp", cidr = "0.0.0.0/0", from = 1024, to = 65535, what = "Media to participants' ports" }
    postgres = { proto = "tcp", cidr = var.vpc_cidr_block, from = 5432, to = 5432, what = "Postgres (spent join tokens, audit)" }
    redis    = { proto = "tcp", cidr = var.vpc_cidr_block, from = 6379, to = 6379, what = "Redis" }
  }
  security_group_id = aws_security_group.sfu.id
  description       = each.value.what
  cidr_ipv4         = each.value.cidr
  ip_protocol       = each.value.proto
  from_port         = each.value.from
  to_port           = each.value.to
}

locals {
  nodes = { for i in range(var.node_count) : tostring(i) => "sfu-${i}.${var.signaling_domain}" }
}

resource "aws_lb_target_group" "sfu" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the node stays inside the VPC and the SFU serves plain HTTP behind it (media is DTLS-SRTP end to end, and E2EE on top).
  for_each             = local.nodes
  name_prefix          = "sfu${each.key}-"
  port                 = 8080
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = 60
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

resource "aws_lb_listener_rule" "sfu" {
  for_each     = local.nodes
  listener_arn = var.https_listener_arn
  priority     = 10 + tonumber(each.key)
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.sfu[each.key].arn
  }
  condition {
    host_header {
      values = [each.value]
    }
  }
  condition {
    path_pattern {
      values = ["/sfu/*"]
    }
  }
}

# ---- The nodes' names and certificate ----

resource "aws_acm_certificate" "sfu" {
  domain_name       = "*.${var.signaling_domain}"
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "sfu_validation" {
  for_each = {
    for o in aws_acm_certificate.sfu.domain_validation_options : o.domain_name => o
  }
  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "sfu" {
  certificate_arn         = aws_acm_certificate.sfu.arn
  validation_record_fqdns = [for r in aws_route53_record.sfu_validation : r.fqdn]
}

resource "aws_lb_listener_certificate" "sfu" {
  listener_arn    = var.https_listener_arn
  certificate_arn = aws_acm_certificate_validation.sfu.certificate_arn
}

resource "aws_route53_record" "sfu" {
  for_each = local.nodes
  zone_id  = var.route53_zone_id
  name     = each.value
  type     = "A"
  alias {
    name                   = var.alb_dns_name
    zone_id                = var.alb_zone_id
    evaluate_target_health = true
  }
}

# ---- IAM: what a node may do ----

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sfu" {
  name_prefix        = "${var.name}-sfu-"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# Shell access through Session Manager only (no SSH port, no key pair).
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.sfu.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "sfu" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this action has no resource-level permissions
  }
  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [var.repository_arn]
  }
  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.database_url_secret_arn, var.join_keys_secret_arn, var.turn_secret_arn, var.redis_url_secret_arn]
  }
  statement {
    sid       = "DecryptSecretsAndImage"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com", "ecr.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "sfu" {
  name   = "accord-sfu-node"
  role   = aws_iam_role.sfu.id
  policy = data.aws_iam_policy_document.sfu.json
}

resource "aws_iam_instance_profile" "sfu" {
  name_prefix = "${var.name}-sfu-"
  role        = aws_iam_role.sfu.name
}

# ---- The nodes ----

resource "aws_launch_template" "sfu" {
  #checkov:skip=CKV_AWS_88:The SFU is ICE-lite: participants send media straight to the node's public address (sfu.public_ips); a NAT in between would break ICE.
  for_each      = local.nodes
  name_prefix   = "${var.name}-sfu${each.key}-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  iam_instance_profile {
    arn = aws_iam_instance_profile.sfu.arn
  }
  network_interfaces {
    associate_public_ip_address = true
    security_groups             = [aws_security_group.sfu.id]
    delete_on_termination       = true
  }
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }
  monitoring {
    enabled = true
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 20
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }
  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    region           = local.region
    registry         = local.registry
    image            = var.image
    media_port       = var.media_port
    db_secret        = var.database_url_secret_arn
    join_keys_secret = var.join_keys_secret_arn
    redis_secret     = var.redis_url_secret_arn
    signaling_url    = "wss://${each.value}/sfu/ws"
    turn_secret      = var.turn_secret_arn
    turn_urls        = jsonencode(var.turn_urls)
    log_group        = var.log_group_name
    log_filter       = var.log_filter
  }))
  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-sfu${each.key}", Role = "accord-sfu" }
  }
  lifecycle {
    create_before_destroy = true
  }
}

# One group of one per node: a node keeps its name across replacements.
resource "aws_autoscaling_group" "sfu" {
  for_each                  = local.nodes
  name_prefix               = "${var.name}-sfu${each.key}-"
  vpc_zone_identifier       = var.public_subnet_ids
  min_size                  = 1
  max_size                  = 1
  desired_capacity          = 1
  health_check_type         = "ELB"
  health_check_grace_period = 180
  target_group_arns         = [aws_lb_target_group.sfu[each.key].arn]
  launch_template {
    id      = aws_launch_template.sfu[each.key].id
    version = aws_launch_template.sfu[each.key].latest_version
  }
  # A new launch template (a new image) replaces the node; its sessions'
  # participants reconnect to the other nodes meanwhile (docs/OPERATIONS.md:
  # upgrade one node at a time).
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 0
      instance_warmup        = 120
    }
  }
  enabled_metrics = ["GroupInServiceInstances", "GroupDesiredCapacity"]
  tag {
    key                 = "Name"
    value               = "${var.name}-sfu${each.key}"
    propagate_at_launch = true
  }
}
