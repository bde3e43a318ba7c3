"""LTI endpoints, one module per audience:

- browser.py: the LMS's browser (plain Flask, outside the OpenAPI document: OIDC and HTML forms)
  GET|POST /lti/login, POST /lti/launch, POST /lti/deep-link;
- tool.py: platforms reading the tool's documents, GET /lti/jwks and GET /lti/config;
- admin.py: LMS administrators (admin API key), /v1/lti/platforms...
"""
