// Submits the form_post response to the application as soon as the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post-response");
  if (form) {
    form.submit();
  }
});
