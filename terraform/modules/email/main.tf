# SES for Accord's mail (invitations, calendar invitations, reminders,
# password links): a domain identity with Easy DKIM and a custom MAIL FROM
# domain, a configuration set that suppresses bounces and complaints, and
# SMTP credentials (Accord sends over SMTP with STARTTLS) that may send only
# as the configured sender. The DNS records are outputs; put them in the
# domain's zone (or pass route53_zone_id and they are created here).

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

resource "aws_sesv2_configuration_set" "this" {
  configuration_set_name = var.name
  delivery_options {
    tls_policy = "REQUIRE"
  }
  reputation_options {
    reputation_metrics_enabled = true
  }
  suppression_options {
    suppressed_reasons = ["BOUNCE", "COMPLAINT"]
  }
}

resource "aws_sesv2_email_identity" "domain" {
  email_identity         = var.domain
  configuration_set_name = aws_sesv2_configuration_set.this.configuration_set_name
  dkim_signing_attributes {
    next_signing_key_length = "RSA_2048_BIT"
  }
}

resource "aws_sesv2_email_identity_mail_from_attributes" "domain" {
  email_identity         = aws_sesv2_email_identity.domain.email_identity
  mail_from_domain       = "bounce.${var.domain}"
  behavior_on_mx_failure = "USE_DEFAULT_VALUE"
}

locals {
  # Easy DKIM always gives three tokens; the records are keyed by position
  # so that the keys are known before the tokens are.
  dkim_records = { for i in range(3) : "dkim-${i}" => {
    name  = "${aws_sesv2_email_identity.domain.dkim_signing_attributes[0].tokens[i]}._domainkey.${var.domain}"
    type  = "CNAME"
    value = "${aws_sesv2_email_identity.domain.dkim_signing_attributes[0].tokens[i]}.dkim.amazonses.com"
  } }
  mail_from_records = {
    "mail-from-mx"  = { name = "bounce.${var.domain}", type = "MX", value = "10 feedback-smtp.${data.aws_region.current.name}.amazonses.com" }
    "mail-from-spf" = { name = "bounce.${var.domain}", type = "TXT", value = "v=spf1 include:amazonses.com -all" }
  }
  dns_records = merge(local.dkim_records, local.mail_from_records)
}

resource "aws_route53_record" "this" {
  for_each = var.route53_zone_id == null ? {} : local.dns_records
  zone_id  = var.route53_zone_id
  name     = each.value.name
  type     = each.value.type
  ttl      = 3600
  records  = [each.value.value]
}

# SES's SMTP interface authenticates with an IAM user's access key: there
# is no role-based alternative for SMTP clients.
resource "aws_iam_user" "smtp" {
  #checkov:skip=CKV_AWS_273:SES SMTP accepts only IAM user access keys; this user can do nothing but send as the sender below.
  name = "${var.name}-ses-smtp"
  path = "/accord/"
}

data "aws_iam_policy_document" "smtp" {
  statement {
    sid       = "SendAsAccordOnly"
    actions   = ["ses:SendRawEmail"]
    resources = [aws_sesv2_email_identity.domain.arn, aws_sesv2_configuration_set.this.arn]
    condition {
      test     = "StringEquals"
      variable = "ses:FromAddress"
      values   = [var.from_address]
    }
  }
}

resource "aws_iam_user_policy" "smtp" {
  #checkov:skip=CKV_AWS_40:An SMTP credential user cannot be put in a group usefully; its one inline policy allows one action on one identity.
  name   = "ses-send-as-accord"
  user   = aws_iam_user.smtp.name
  policy = data.aws_iam_policy_document.smtp.json
}

resource "aws_iam_access_key" "smtp" {
  user = aws_iam_user.smtp.name
}

resource "aws_secretsmanager_secret" "smtp" {
  #checkov:skip=CKV2_AWS_57:Rotated by creating a second access key, updating this secret and rolling the API (docs/OPERATIONS.md); SES SMTP passwords derive from the key, which a rotation Lambda cannot recreate here.
  name                    = "${var.name}/ses-smtp"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "smtp" {
  secret_id = aws_secretsmanager_secret.smtp.id
  secret_string = jsonencode({
    username = aws_iam_access_key.smtp.id
    password = aws_iam_access_key.smtp.ses_smtp_password_v4
  })
}
