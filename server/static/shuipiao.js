// Page behaviour kept out of the HTML so the Content-Security-Policy can forbid inline script.
// <form data-confirm="…"> asks before submitting; <button data-print> prints the page;
// <button data-step="±1"> steps the number input beside it within its min and max;
// <select data-autosubmit> submits its form when changed.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
  const step = event.target.closest("[data-step]");
  if (step) {
    const input = step.parentElement.querySelector("input[type=number]");
    const next = (Number(input.value) || 0) + Number(step.dataset.step);
    input.value = Math.min(Number(input.max) || next, Math.max(Number(input.min) || 0, next));
  }
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) {
    event.target.form.submit();
  }
});
