output "urls" {
  description = "TURN URLs for sfu.turn.urls (UDP and TCP through the NLB)."
  value = [
    "turn:${aws_lb.turn.dns_name}:3478?transport=udp",
    "turn:${aws_lb.turn.dns_name}:3478?transport=tcp",
  ]
}

output "nlb_dns_name" {
  description = "The TURN load balancer's name (a CNAME such as turn.example.org may point here)."
  value       = aws_lb.turn.dns_name
}
