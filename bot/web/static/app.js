// Light help only: every page works without it.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var done = function () { button.textContent = "✅ Đã sao chép"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.value || source.textContent).then(done);
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});
