import "@accord/shared/style.css";
import { mountPortal } from "@accord/shared/ui";
import { router } from "./App";

mountPortal(router);
