"""Registers the web app, the mfa-app API, their consent and the MFA policy in an External ID
tenant through Microsoft Graph, and writes the web app's settings to a .env file."""
