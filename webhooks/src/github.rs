pub fn parse(_host: &str, _event: &str, _body: &[u8]) -> Result<Vec<crate::ForgeEvent>, crate::ParseError> { todo!("github parser") }
