// Members (org admins): who is in the organisation, in which role, whether
// they have signed in yet; invite, change a role, remove.

import { MemberListDocument, type MemberListQuery } from "@accord/shared/gql";
import { Alert, Card, Empty, ErrorAlert, Loading, PageTitle, toProblem, useSession } from "@accord/shared/ui";
import { useRef, useState } from "react";
import { useQuery } from "urql";
import { t } from "../strings";
import { can } from "./common/permissions";
import { OnlyAdmins } from "./common/Forbidden";
import { useFocusRescue } from "./common/hooks";
import { InviteForm } from "./members/InviteForm";
import { MemberRow } from "./members/MemberRow";

const s = t.pages.members;

export function MembersPage() {
  const session = useSession();
  if (!can(session.role, "manageMembers")) return <OnlyAdmins title={s.title} body={s.onlyAdmins} />;
  return <MembersList viewerId={session.userId} />;
}

export type MemberItem = MemberListQuery["members"][number];

function MembersList({ viewerId }: { viewerId: string }) {
  const [{ data, fetching, error }, refetch] = useQuery({ query: MemberListDocument });
  const [notice, setNotice] = useState<string | null>(null);
  const noticeRef = useRef<HTMLDivElement>(null);
  useFocusRescue(noticeRef, notice !== null, [data, notice]);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const problem = error ? toProblem(error) : null;
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <div aria-live="polite" ref={noticeRef} tabIndex={-1}>
        {notice ? <Alert kind="ok">{notice}</Alert> : null}
      </div>
      <Card title={s.invite}>
        <InviteForm
          onInvited={(email) => {
            setNotice(s.invitedOk(email));
            reload();
          }}
        />
      </Card>
      <section className="card" aria-labelledby="members-list">
        <h2 id="members-list">{s.title}</h2>
        {problem && problem.code === "FORBIDDEN" ? (
          <Alert kind="warn">{s.onlyAdmins}</Alert>
        ) : (
          <ErrorAlert problem={problem} onRetry={reload} />
        )}
        {!data && fetching ? <Loading /> : null}
        {data && data.members.length === 0 ? <Empty>{s.none}</Empty> : null}
        {data && data.members.length > 0 ? (
          <table className="data">
            <thead>
              <tr>
                <th scope="col">{s.colName}</th>
                <th scope="col">{s.colEmail}</th>
                <th scope="col">{s.colState}</th>
                <th scope="col">{s.colJoined}</th>
                <th scope="col">{s.colRole}</th>
                <th scope="col">{s.colActions}</th>
              </tr>
            </thead>
            <tbody>
              {data.members.map((m) => (
                <MemberRow
                  key={m.user.id}
                  member={m}
                  self={m.user.id === viewerId}
                  onChanged={setNotice}
                  onRemoved={(name) => {
                    setNotice(s.removed(name));
                    reload();
                  }}
                />
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
    </>
  );
}
