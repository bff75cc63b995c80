"""One module per endpoint family. Handlers parse, call a service or Authlib, and render."""
