// response_mode=form_post: send the authorization response to the application at once. A file, not an
// inline script, so the page keeps a CSP without 'unsafe-inline'. Without scripts the Continue button does it.
document.getElementById("form-post").submit();
