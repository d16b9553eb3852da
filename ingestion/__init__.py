"""Turning uploaded files into text for the appliance."""
