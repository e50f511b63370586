// Page behaviour kept out of the HTML so the Content-Security-Policy can forbid inline script.
// <form data-confirm="…"> asks before submitting; <button data-print> prints the page.
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
});
