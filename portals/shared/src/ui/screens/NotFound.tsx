import { Link } from "react-router";
import { PageTitle } from "../components";
import { strings } from "../strings";

export function NotFoundPage({ home = "/" }: { home?: string }) {
  return (
    <>
      <PageTitle>{strings.notFound.title}</PageTitle>
      <p>{strings.notFound.body}</p>
      <Link to={home}>{strings.notFound.home}</Link>
    </>
  );
}
