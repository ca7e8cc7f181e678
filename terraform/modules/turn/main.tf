# coturn for participants whose networks reach neither SFU media port:
# `use-auth-secret` with the shared secret from Secrets Manager (the SFU
# hands out time-limited credentials), behind a Network Load Balancer on
# 3478 (UDP and TCP). Relayed candidates are each node's own public address
# (from the instance metadata), on the relay port range. Relaying into the
# VPC or other private ranges is refused.

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

locals {
  region = data.aws_region.current.name
  ami_parameter = {
    X86_64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    ARM64  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
  }
}

data "aws_ssm_parameter" "ami" {
  name = local.ami_parameter[var.cpu_architecture]
}

resource "aws_security_group" "turn" {
  name_prefix = "${var.name}-turn-"
  description = "coturn: 3478 and the relay ports from anywhere"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "turn" {
  for_each = {
    listen_udp = { proto = "udp", from = 3478, to = 3478 }
    listen_tcp = { proto = "tcp", from = 3478, to = 3478 }
    relay_udp  = { proto = "udp", from = var.relay_min_port, to = var.relay_max_port }
  }
  security_group_id = aws_security_group.turn.id
  description       = "TURN ${each.key}"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = each.value.proto
  from_port         = each.value.from
  to_port           = each.value.to
}

resource "aws_vpc_security_group_egress_rule" "turn" {
  for_each = {
    https = { proto = "tcp", from = 443, to = 443, what = "AWS APIs (Secrets Manager, logs, SSM) and packages at boot" }
    relay = { proto = "udp", from = 1024, to = 65535, what = "Relayed media to SFU nodes and clients" }
  }
  security_group_id = aws_security_group.turn.id
  description       = each.value.what
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = each.value.proto
  from_port         = each.value.from
  to_port           = each.value.to
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "turn" {
  name_prefix        = "${var.name}-turn-"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.turn.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "turn" {
  statement {
    sid       = "SharedSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.turn_secret_arn]
  }
  statement {
    sid       = "DecryptSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "turn" {
  name   = "accord-turn-node"
  role   = aws_iam_role.turn.id
  policy = data.aws_iam_policy_document.turn.json
}

resource "aws_iam_instance_profile" "turn" {
  name_prefix = "${var.name}-turn-"
  role        = aws_iam_role.turn.name
}

resource "aws_launch_template" "turn" {
  #checkov:skip=CKV_AWS_88:TURN relays allocate ports on the node's public address; clients must reach it directly.
  name_prefix   = "${var.name}-turn-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  iam_instance_profile {
    arn = aws_iam_instance_profile.turn.arn
  }
  network_interfaces {
    associate_public_ip_address = true
    security_groups             = [aws_security_group.turn.id]
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
      volume_size           = 10
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }
  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    region         = local.region
    secret_arn     = var.turn_secret_arn
    realm          = var.realm
    relay_min_port = var.relay_min_port
    relay_max_port = var.relay_max_port
    vpc_cidr_block = var.vpc_cidr_block
    coturn_image   = var.coturn_image
    log_group      = var.log_group_name
  }))
  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-turn", Role = "accord-turn" }
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb" "turn" {
  #checkov:skip=CKV_AWS_91:TURN's own log (coturn, to CloudWatch) records allocations; NLB access logs cover TLS listeners only and these are UDP/TCP.
  name                             = "${var.name}-turn"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
}

resource "aws_lb_target_group" "turn" {
  for_each             = toset(["UDP", "TCP"])
  name_prefix          = "tn${lower(substr(each.key, 0, 1))}-"
  port                 = 3478
  protocol             = each.key
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  # UDP targets are health-checked over TCP on the same port.
  health_check {
    protocol = "TCP"
    port     = "3478"
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "turn" {
  #checkov:skip=CKV_AWS_2:TURN over UDP and TCP carries DTLS-SRTP media already encrypted end to end; a TLS listener would need turns:// and a certificate on the nodes.
  #checkov:skip=CKV_AWS_103:As above: no TLS listener.
  for_each          = aws_lb_target_group.turn
  load_balancer_arn = aws_lb.turn.arn
  port              = 3478
  protocol          = each.key
  default_action {
    type             = "forward"
    target_group_arn = each.value.arn
  }
}

resource "aws_autoscaling_group" "turn" {
  name_prefix               = "${var.name}-turn-"
  vpc_zone_identifier       = var.public_subnet_ids
  min_size                  = var.node_count
  max_size                  = var.node_count
  desired_capacity          = var.node_count
  health_check_type         = "ELB"
  health_check_grace_period = 180
  target_group_arns         = [for tg in aws_lb_target_group.turn : tg.arn]
  launch_template {
    id      = aws_launch_template.turn.id
    version = aws_launch_template.turn.latest_version
  }
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }
  tag {
    key                 = "Name"
    value               = "${var.name}-turn"
    propagate_at_launch = true
  }
}
