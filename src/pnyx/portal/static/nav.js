// Shows the navigation links of the roles of a visitor who keeps a token in this tab (sessionStorage);
// the server shows those of a signed-in session itself (data-shown). Only a convenience: every page
// checks the role on the server.
(() => {
  const reveal = () => {
    const roles = (sessionStorage.getItem("pnyx-roles") || "").split(",");
    for (const link of document.querySelectorAll("nav [data-role]")) link.hidden = !(link.hasAttribute("data-shown") || roles.includes(link.dataset.role));
  };
  window.addEventListener("pnyx-signed-in", reveal);
  reveal();
})();
