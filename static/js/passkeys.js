// Once a new passkey is saved, show it in the list (where it can be named): the page is loaded again.
document.addEventListener("otp_webauthn.register_complete", function () {
  window.location.reload();
});
