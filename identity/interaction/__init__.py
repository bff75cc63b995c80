"""The hosted pages between /authorize and the redirect back: login and consent."""
