"""Restricted execution and deploy-time checks for admin-edited BPMN/DMN."""
