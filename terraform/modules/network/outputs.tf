output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's address range."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Subnets with a route to the internet gateway (load balancer, SFU, TURN)."
  value       = aws_subnet.public[*].id
}

output "app_subnet_ids" {
  description = "Private subnets for the API tasks (out through NAT)."
  value       = aws_subnet.app[*].id
}

output "data_subnet_ids" {
  description = "Private subnets with no route out (Postgres, Redis)."
  value       = aws_subnet.data[*].id
}

output "s3_endpoint_id" {
  description = "The S3 gateway endpoint (the vault bucket's policy names it)."
  value       = aws_vpc_endpoint.s3.id
}
