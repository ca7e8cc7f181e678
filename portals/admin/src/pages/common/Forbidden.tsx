import { Alert, PageTitle } from "@accord/shared/ui";
import { t } from "../../strings";

/** What a mediator sees at an org admin's page: words, not a blank page. */
export function OnlyAdmins({ title, body }: { title: string; body: string }) {
  return (
    <>
      <PageTitle>{title}</PageTitle>
      <Alert kind="warn">
        <strong>{t.pages.common.notAllowedTitle}.</strong> {body}
      </Alert>
    </>
  );
}
