import { portalConfig } from "../vite.portal";

// The client portal, at the origin's root.
export default portalConfig("client", "/");
