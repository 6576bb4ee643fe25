// jStat ships no types: the one function the bench uses (jStat.beta.inv = the incomplete-beta inverse).
declare module 'jstat' {
  const jStat: { beta: { inv(p: number, alpha: number, beta: number): number } };
  export default jStat;
}
