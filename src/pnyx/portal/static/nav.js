// Shows the navigation links of the signed-in visitor's roles (from this tab's sessionStorage, set
// when a page signs in with a token). Only a convenience: every page checks the role on the server.
(() => {
  const reveal = () => {
    const roles = (sessionStorage.getItem("pnyx-roles") || "").split(",");
    for (const link of document.querySelectorAll("nav [data-role]")) link.hidden = !roles.includes(link.dataset.role);
  };
  window.addEventListener("pnyx-signed-in", reveal);
  reveal();
})();
