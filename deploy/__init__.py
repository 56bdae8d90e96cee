"""Deployment: local development commands (deploy/local), compose and container files."""
