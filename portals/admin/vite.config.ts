import { portalConfig } from "../vite.portal";

// The admin portal, under /admin/.
export default portalConfig("admin", "/admin/");
